"""Tables, statistics, plots and the HTML report of r2bench results.

Reads results (``r2bench score --out``) and profile records; never imports torch, and
imports matplotlib only where a plot is drawn. Imports point to `r2bench` core, never back.
"""

from leaderboard.board import BoardOptions, build_leaderboard
from leaderboard.records import Profile, ScoredSubmission, load_records, match_profiles
from leaderboard.render import FORMATS, render

__all__ = ["FORMATS", "BoardOptions", "Profile", "ScoredSubmission", "build_leaderboard",
           "load_records", "match_profiles", "render"]
