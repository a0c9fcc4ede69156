"""The sandbox: the real bot against a local Bot API server, with a chat page in a browser.

`bot_api` is that server (also the end-to-end tests' fake Telegram); `web` is the page and its
API; `demo` builds the demo village through storage's own operations; `run` starts it all.
"""
