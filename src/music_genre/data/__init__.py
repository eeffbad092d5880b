"""Data: FMA's formats, folder collections, splits, downloads, audio decoding, Kedro datasets."""
