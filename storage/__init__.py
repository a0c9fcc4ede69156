"""Tables, engine and sessions, migrations, and one module per feature with its rules.

Nothing here imports aiogram: the rules can be tested, and used by jobs and the command line,
without Telegram.
"""
