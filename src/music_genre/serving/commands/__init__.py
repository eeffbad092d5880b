"""``music-genre``: the command line for a person with a few songs.

    music-genre predict song.mp3 album/ --top 3
    music-genre predict song.mp3 --json
    music-genre predict song.mp3 --model models:/music-genre-sample@champion
    music-genre daily --env fma_small          # the daily job: score, monitor, retrain, promote

One module per command (:mod:`.predict`, :mod:`.daily`, :mod:`.serve`, :mod:`.web_page` for ``app``), the
options they share (:mod:`.options`), the Kedro session runner of ``daily`` (:mod:`.kedro_session`), the
``--params`` parsing (:mod:`.params_option`) and the rendering of ``predict``'s answers as text or JSON
(:mod:`.rendering`); :mod:`.entry` gathers the commands into one Typer app and holds :func:`main`.

The text output opens, before the first answer, with one line naming the model answering (registered name
and version, dataset, task); then come a warning when that model learned from the synthesized sample and a
note when it cannot tell music unlike its training music (both on stderr, as the other warnings; neither
when no file got an answer). A weak answer reads "uncertain: A or B" (``inference.uncertain_below`` /
``uncertain_margin``), an unfamiliar one gets a line under its bars, and a silent file is one line,
``<path>: silent``. The words are :mod:`music_genre.serving.wording`'s, the page's too.

Exit status: 0 when every file was predicted, 1 when any could not be (a silent file too: it has no
genre), 2 for a usage error. Heavy libraries load inside the command, so ``--help`` answers at once.
"""

from music_genre.serving.commands.entry import app, main
from music_genre.serving.commands.params_option import nested_params

__all__ = ["app", "main", "nested_params"]
