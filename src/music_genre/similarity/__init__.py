"""Songs like this one: the similarity index of a collection (its embedding standardised, searched by
cosine distance, exactly or through an approximate graph), neighbours and near-duplicates, playlists (paths,
transitions, clusters) and M3U8. Plain library code over features and metadata; may import ``features``,
``data`` and ``common``."""
