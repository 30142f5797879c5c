"""Build the S2H-Synth benchmark: the same command as `s2h data synth`.

    python data_scripts/make_synth.py [--out data/s2h_synth] [--workers N] [--train 4000] ...

See `s2h data synth --help` for every option. An interrupted build resumes where it stopped;
the same options give the same files.
"""

from __future__ import annotations

import sys

from s2h_lib.cli import main

if __name__ == "__main__":  # spawned workers import this file: build only in the parent
    sys.exit(main(["data", "synth", *sys.argv[1:]]))
