"""A real dovecot IMAP server on a loopback port, in a temporary directory of its own."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from tests.support.servers import free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
DOVEADM = shutil.which("doveadm") or ("/usr/bin/doveadm" if Path("/usr/bin/doveadm").exists() else None)
MISSING = "dovecot is not installed: install the Debian packages dovecot-imapd (CI does this in its test script)"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
# IDLE clients hear of new mail at once (without inotify, dovecot otherwise checks every 30 s)
mailbox_idle_check_interval = 1 secs
first_valid_gid = 1
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _accounts() -> tuple[str, str, str]:
    """Who runs mail and login: nobody/nogroup as root; the current user otherwise (dovecot cannot switch)."""
    if os.geteuid() == 0:
        group = "nogroup" if _group_exists("nogroup") else "nobody"
        return "nobody", group, ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return user, group, f"default_login_user = {user}\ndefault_internal_user = {user}"


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _open_up(path: Path) -> None:
    """Let dovecot's unprivileged processes walk into ``path``: each own folder on the way gets o+rx."""
    for folder in [path, *path.parents]:
        info = folder.stat()
        if info.st_uid == os.geteuid() and (info.st_mode & 0o005) != 0o005:
            folder.chmod(info.st_mode | 0o055)


@dataclass
class Dovecot:
    """One dovecot instance with one passwd-file user and a maildir per user."""

    directory: Path
    port: int
    user: str = "leads@example.test"
    password: str = "imap-secret"

    @property
    def config(self) -> Path:
        """The dovecot.conf of this instance."""
        return self.directory / "dovecot.conf"

    @property
    def log(self) -> str:
        """What dovecot logged so far."""
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def _start_log(self) -> str:
        path = self.directory / "start.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def write_config(self) -> None:
        """Write the config, the passwd file and the mail folder with the owners dovecot needs."""
        mail_user, mail_group, users = _accounts()
        (self.directory / "run").mkdir(exist_ok=True)
        (self.directory / "state").mkdir(exist_ok=True)
        mail = self.directory / "mail"
        mail.mkdir(exist_ok=True)
        shutil.chown(mail, mail_user, mail_group)
        (self.directory / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        self.config.write_text(
            CONFIG.format(dir=self.directory, port=self.port, mail_user=mail_user, mail_group=mail_group, users=users)
        )
        _open_up(self.directory)

    def start(self, *, timeout: float = 20.0) -> None:
        """Start the server and wait until it greets on its port."""
        assert DOVECOT, MISSING
        # The master daemonizes and its children keep inherited pipes open: send its output to a file instead.
        with (self.directory / "start.log").open("ab") as output:
            started = subprocess.run(
                [DOVECOT, "-c", str(self.config)],
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        if started.returncode != 0:
            raise RuntimeError(f"dovecot exited with {started.returncode}:\n{self.log}{self._start_log}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not accept connections on {self.port}:\n{self.log}{self._start_log}")

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop the server through its master.pid and wait until its port is closed."""
        pid_file = self.directory / "run" / "master.pid"
        if not pid_file.exists():
            return
        master = int(pid_file.read_text().strip())
        # The master alone lingers for seconds and leaves logged-in sessions serving: stop them all at once.
        pids = [master, *_children(master)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while time.monotonic() < deadline and _accepts(self.port):
            time.sleep(0.05)

    def deliver(self, message: bytes, *, folder: str = "INBOX") -> None:
        """Deliver a message the way a local MTA would (``doveadm save``)."""
        assert DOVEADM, MISSING
        subprocess.run(
            [DOVEADM, "-c", str(self.config), "save", "-u", self.user, "-m", folder],
            input=message,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def drop_into_maildir(self, message: bytes) -> None:
        """Deliver while the server is down, as an MTA writing the user's maildir directly would."""
        mail_user, mail_group, _ = _accounts()
        inbox = self.directory / "mail" / self.user
        for part in ("tmp", "new", "cur"):
            (inbox / part).mkdir(parents=True, exist_ok=True)
        for path in (inbox, inbox / "tmp", inbox / "new", inbox / "cur"):
            shutil.chown(path, mail_user, mail_group)
        name = f"{time.time_ns()}.P{os.getpid()}.lead-engine-test"
        staged = inbox / "tmp" / name
        staged.write_bytes(message)
        shutil.chown(staged, mail_user, mail_group)
        staged.rename(inbox / "new" / name)

    def mailbox(self) -> MailBoxUnencrypted:
        """A logged-in imap-tools client for looking at the mailbox (use it as a context manager)."""
        return MailBoxUnencrypted("127.0.0.1", self.port, timeout=30).login(self.user, self.password)

    def flags(self, folder: str = "INBOX") -> list[tuple[str, ...]]:
        """The flags of every message in ``folder`` (but \\Recent), in UID order, without marking anything seen."""
        with self.mailbox() as box:
            box.folder.set(folder)
            # \Recent only says which session saw the message first: it is noise for the tests.
            messages = box.fetch(mark_seen=False, headers_only=True)
            return [tuple(flag for flag in message.flags if flag != "\\Recent") for message in messages]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name in parentheses may hold spaces: the parent pid is the second field after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of this test process that exited but was not reaped yet counts as gone.
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A started dovecot in a fresh temporary directory, stopped and removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="lead-engine-dovecot-"))
    server = Dovecot(directory=directory, port=free_port())
    try:
        server.write_config()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
