"""Development mail: each message printed as one marked block with its links (easy to find among the
worker's log lines) and kept as an .eml file under var/mail/ (EMAIL_FILE_PATH), to open or grep later."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.utils.text import slugify

LINK = re.compile(r"https?://[^\s<>\"']+")


class DevelopmentEmailBackend(ConsoleBackend):
    def write_message(self, message) -> None:
        path = self._save(message)
        to = ", ".join(message.to)
        lines = [f"===== Mail to {to}: {message.subject} =====", message.body.rstrip()]
        links = list(dict.fromkeys(LINK.findall(message.body)))
        if links:
            lines += ["", "Links:", *(f"  {link}" for link in links)]
        lines.append(f"===== saved as {path} =====")
        self.stream.write("\n".join(lines) + "\n")

    def _save(self, message) -> Path:
        folder = Path(settings.EMAIL_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")  # noqa: DTZ005 (a local file name, not a time)
        path = folder / f"{stamp}-{slugify(message.subject)[:60] or 'mail'}.eml"
        path.write_bytes(message.message().as_bytes())
        return path
