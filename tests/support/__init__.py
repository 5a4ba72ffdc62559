"""What tests share and are not tests themselves: fakes of each seam (``fakes``), local
stand-ins of Slack, Discord and a Chroma server (``slack``, ``fake_discord``, ``discord``,
``chroma``), the load and secrets helpers (``ops``), subprocess helpers and paths. Test modules
import from here, never from one another or from a ``conftest.py``; each ``conftest.py``
re-exports the fixtures its folder uses."""
