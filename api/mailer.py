"""Sending the outbox: each process's dispatcher claims due e-mails and hands them to SMTP.

A message goes ``pending`` → ``sending`` (claimed by one process, with a lease) → ``sent``; a
failure puts it back to ``pending`` with an exponential back-off (``MATCHER_OUTBOX_RETRY_SECONDS``
doubled per attempt, at most 6 h), and after ``MATCHER_OUTBOX_MAX_ATTEMPTS`` it is ``failed``
until ``matcher outbox resend``. A recipient the server refuses for good (5xx) fails at once.
When the mail server cannot be reached, the pass stops after the first message: the others are
not even claimed, and everything waits in the outbox until the server is back.

Delivery is at least once, and exactly once but for one window: a process that dies after the
server accepted a message and before ``sent`` is committed leaves it ``sending``; after its lease
another process sends it again. Both copies carry the same ``Message-ID`` (derived from the row),
so mail clients can tell them apart. A message marked ``sent`` is never sent again, whichever
process restarts.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlmodel import Session

from api.runs import process_owner
from api.settings import Settings
from models import outbox as rows
from models.tables import OutboxMessage, utc_now

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
#: The longest wait between two attempts at one message.
MAX_BACKOFF = timedelta(hours=6)


class SmtpTransport:
    """One SMTP connection (STARTTLS, SMTPS or plain, with login if a user is set)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        s = self.settings
        port = s.smtp_port or DEFAULT_PORTS[s.smtp_tls]
        if s.smtp_tls == "ssl":
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, port, timeout=s.smtp_timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, port, timeout=s.smtp_timeout)
        try:
            if s.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()  # the server went away meanwhile: nothing left to say
        self._smtp = None

    def send(self, message: EmailMessage) -> None:
        assert self._smtp is not None, "send inside `with transport:`"
        self._smtp.send_message(message)


def email_of(row: OutboxMessage, sender: str) -> EmailMessage:
    """The message as sent; its Message-ID is the same for every attempt at the row."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:16]
    message = EmailMessage()
    message.set_content(row.body)  # first: it replaces every Content-* header
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = f"<outbox.{row.id}.{digest}@{domain}>"
    message["Content-Language"] = row.language
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    return message


def describe(error: BaseException) -> str:
    """What went wrong, without personal data: servers quote addresses in their replies, so
    only the error's class and the SMTP codes are kept."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        return f"{name}: {', '.join(map(str, codes))}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{name}: {error.smtp_code}"
    if isinstance(error, OSError) and error.strerror:
        return f"{name}: {error.strerror}"
    return name


def is_permanent(error: BaseException) -> bool:
    """The server refused every recipient for good (5xx): another attempt would fail again."""
    return isinstance(error, smtplib.SMTPRecipientsRefused) and all(
        code >= 500 for code, _ in error.recipients.values()
    )


@dataclass
class PassResult:
    """What one dispatch pass did: ids sent, put back for a retry, and given up."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


class Dispatcher:
    """Sends due outbox messages: one pass on demand (:meth:`dispatch_once`, the CLI) or every
    ``MATCHER_OUTBOX_POLL_SECONDS`` in a background thread (:meth:`start`, the server)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = process_owner()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._server_down = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-dispatcher", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.smtp_timeout + 10)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self.dispatch_once()
            except Exception:  # e.g. the database is busy: the next pass tries again
                logger.exception("outbox dispatch pass failed")
            self._stopped.wait(self.settings.outbox_poll_seconds)

    def dispatch_once(self) -> PassResult:
        """Send every message due now, over one connection opened for the first of them."""
        result = PassResult()
        with Session(self.engine) as session:
            row = self._claim(session)
            if row is None:
                return result
            try:
                with SmtpTransport(self.settings) as connection:
                    self._server_back()
                    while row is not None:
                        self._send(session, connection, row, result)
                        row = self._claim(session)
            except (OSError, smtplib.SMTPException) as error:
                # No connection (or it broke): the claimed message waits; the others stay
                # unclaimed until the next pass.
                self._server_unreachable(error)
                if row is not None:
                    self._settle_failure(session, row, error, result)
        return result

    def _claim(self, session: Session) -> OutboxMessage | None:
        lease = utc_now() + timedelta(seconds=self.settings.outbox_lease_seconds)
        return rows.claim_next(session=session, owner=self.owner, lease_until=lease)

    def _send(
        self, session: Session, connection: SmtpTransport, row: OutboxMessage, result: PassResult
    ) -> None:
        """Send one claimed message and record the outcome; a broken connection propagates."""
        assert row.id is not None
        try:
            connection.send(email_of(row, self.settings.smtp_sender))
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
            self._settle_failure(session, row, error, result)  # this message only
            return
        if rows.mark_sent(session=session, message_id=row.id, owner=self.owner):
            result.sent.append(row.id)
        else:  # our lease ran out meanwhile and another process took the message over
            logger.warning("outbox message %s was sent after its claim had expired", row.id)
        session.commit()

    def _settle_failure(
        self, session: Session, row: OutboxMessage, error: BaseException, result: PassResult
    ) -> None:
        assert row.id is not None
        session.rollback()
        give_up = is_permanent(error) or row.attempts >= self.settings.outbox_max_attempts
        retry_at = None if give_up else utc_now() + self.backoff(row.attempts)
        rows.mark_attempt_failed(
            session=session,
            message_id=row.id,
            owner=self.owner,
            error=describe(error),
            retry_at=retry_at,
        )
        session.commit()
        (result.failed if give_up else result.retried).append(row.id)
        logger.warning(
            "outbox message %s (%s): attempt %s failed (%s)%s",
            row.id,
            row.kind,
            row.attempts,
            describe(error),
            ", given up" if give_up else "",
        )

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: doubling from the base, capped."""
        seconds = self.settings.outbox_retry_seconds * 2 ** min(attempts - 1, 30)
        return min(timedelta(seconds=seconds), MAX_BACKOFF)

    def _server_unreachable(self, error: BaseException) -> None:
        if not self._server_down:
            logger.warning(
                "mail server unreachable (%s): e-mails wait in the outbox", describe(error)
            )
        self._server_down = True

    def _server_back(self) -> None:
        if self._server_down:
            logger.info("mail server reachable again")
        self._server_down = False


def start_dispatcher(engine: Engine, settings: Settings) -> Dispatcher | None:
    """The server's dispatcher, started; None (logged once) when no mail server is set."""
    if not settings.smtp_host:
        logger.warning(
            "E-Mail-Benachrichtigungen sind aus (MATCHER_SMTP_HOST ist leer); "
            "Nachrichten bleiben im Postausgang (`matcher outbox`)."
        )
        return None
    dispatcher = Dispatcher(engine, settings)
    dispatcher.start()
    return dispatcher
