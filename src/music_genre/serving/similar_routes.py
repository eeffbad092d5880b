"""The served model's similarity routes, shaped like OpenSubsonic's ``sonicSimilarity`` extension so a
media server's plugin can call them:

- ``POST /similar`` ``{"id" | "path" | "content" (+ "filename"), "count"}`` and
  ``GET /rest/getSonicSimilarTracks?id=..&count=..``: ``{"sonicMatches": [{"entry": {"id", "path", "title",
  "artist", "album", "genre"}, "similarity"}]}``, most similar first, similarity in [0, 1] (1 = the same);
  the query itself and its exact duplicates are left out.
- ``POST /path`` ``{"startSongId", "endSongId", "count"}`` and ``GET /rest/findSonicPath?..``: the tracks
  from one to the other, each with its similarity to the one before.

The input rules are ``/invocations``' (:mod:`music_genre.serving.served_inputs`): a track of the collection
by id; a ``path`` only under ``serving.allowed_roots``; ``content`` (base64 audio) up to ``serving.max_mb``,
kept in a private temporary folder for the time of the request. A refused or unreadable query is a 400
with ``{"error": {"reason", "message"}}``; no index built yet is a 404 saying which run builds it.
"""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations at run time (Request is
# imported inside add_routes, where a postponed annotation could not be resolved)
from collections.abc import Callable, Mapping


def add_routes(app, index_provider: Callable[[], object], serving: Mapping | None, windowing=None):
    """Add the routes to a FastAPI ``app``. ``index_provider()`` returns the index or raises an
    ExpectedError (no index yet): it is asked on each request, so a server started before the first
    ``kedro run`` answers once the index exists."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from music_genre.common.errors import ExpectedError
    from music_genre.serving import served_inputs as guard
    from music_genre.serving import similar

    roots = guard.allowed_roots(serving)
    limit = guard.max_bytes(serving)

    def refuse(status: int, reason: str, message: str):
        return JSONResponse({"error": {"reason": reason, "message": message}}, status_code=status)

    def index_or_response():
        try:
            return index_provider(), None
        except ExpectedError as error:
            return None, refuse(404, "no_index", str(error))

    def count_of(value, default: int = 10) -> int:
        try:
            return max(1, min(500, int(value if value is not None else default)))
        except (TypeError, ValueError):
            raise similar.QueryError(
                str(value), "bad_request", "count must be a whole number"
            ) from None

    def query_of(index, body: Mapping, uploads):
        """The query a request names: a track id, an allowed path, or uploaded content."""
        if body.get("id") is not None:
            row = index.position(str(body["id"]))
            if row is None:
                raise similar.QueryError(
                    str(body["id"]), "not_found", "no such track in the collection"
                )
            return similar.Query(str(body["id"]), index.vectors()[row], row)
        if body.get("path") is not None:
            checked = guard.check_path(str(body["path"]), roots)
            if isinstance(checked, guard.Refusal):
                raise similar.QueryError(str(body["path"]), checked.reason, checked.message)
            return similar.resolve(index, str(checked), windowing)
        if body.get("content") is not None:
            data = guard.decode_content(str(body["content"]), limit)
            if isinstance(data, guard.Refusal):
                raise similar.QueryError("content", data.reason, data.message)
            name = str(body.get("filename") or "upload")
            path = uploads.write(data, guard.suffix_for(data, body.get("filename")))
            query = similar.Query(name, similar.file_vector(index, path, windowing), None)
            return query
        raise similar.QueryError("request", "bad_request", "give an id, a path or content")

    def similar_answer(body: Mapping):
        index, missing = index_or_response()
        if missing is not None:
            return missing
        try:
            with guard.PrivateUploads() as uploads:
                query = query_of(index, body, uploads)
                matches = similar.sonic_similar_tracks(index, query, count_of(body.get("count")))
        except similar.QueryError as error:
            return refuse(400, error.reason, error.message)
        return {"sonicMatches": matches, "index": index.description}

    def path_answer(body: Mapping):
        index, missing = index_or_response()
        if missing is not None:
            return missing
        try:
            with guard.PrivateUploads() as uploads:
                start = query_of(index, {"id": body.get("startSongId")}, uploads)
                end = query_of(index, {"id": body.get("endSongId")}, uploads)
                tracks = similar.sonic_path(index, start, end, count_of(body.get("count"), 20))
        except similar.QueryError as error:
            return refuse(400, error.reason, error.message)
        except ExpectedError as error:
            return refuse(400, "bad_request", str(error))
        return {"sonicMatches": tracks, "index": index.description}

    async def body_of(request: Request) -> Mapping:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    @app.post("/similar")
    async def post_similar(request: Request):
        return similar_answer(await body_of(request))

    @app.get("/rest/getSonicSimilarTracks")
    async def get_similar(id: str | None = None, count: int = 10):  # Subsonic's name
        return similar_answer({"id": id, "count": count})

    @app.post("/path")
    async def post_path(request: Request):
        return path_answer(await body_of(request))

    @app.get("/rest/findSonicPath")
    async def get_path(
        startSongId: str | None = None, endSongId: str | None = None, count: int = 20
    ):
        return path_answer({"startSongId": startSongId, "endSongId": endSongId, "count": count})

    return app
