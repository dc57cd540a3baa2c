"""The application: flows that run the builder, the model and the leaderboard together.

It sits beside the command line, above the library packages (`datasets_builder`,
`reference_model`, `leaderboard`), which never import it.
"""
