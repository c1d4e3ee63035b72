"""Internals of ``repodb.cli``: what each command does, kept apart from how it is invoked.

Why: ``cli.py`` is the command line itself (its arguments, the dispatch to a
command and how errors are reported); the commands' work (migrations,
creating and dropping databases, diffs) and the output they share each have a
module here, small enough to read in one sitting.
"""
