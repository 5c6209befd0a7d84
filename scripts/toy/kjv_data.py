"""Corpus helpers shared by the toy-model scripts: chapter split and the
train/validation split (1 chapter in 40 is held out, never Genesis 1)."""

VAL_EVERY, VAL_AT = 40, 20


def chapters(path):
    """The chapters of extract_corpus.sh's output, each ending in one newline."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [c.strip("\n") + "\n" for c in text.split("\n\n") if c.strip()]


def split(chs):
    """(train, val) lists of chapters."""
    train = [c for i, c in enumerate(chs) if i % VAL_EVERY != VAL_AT]
    val = [c for i, c in enumerate(chs) if i % VAL_EVERY == VAL_AT]
    return train, val
