"""E-mail notifications end to end, against a real SMTP server on localhost (aiosmtpd).

The app's own dispatcher (started by its lifespan) delivers; the mail server is stopped and
started again on the same port to show that nothing is lost; a second app instance and a
second process on the same database show that nothing is delivered twice.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlalchemy import update
from sqlmodel import Session, col
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.mailer import Dispatcher
from api.outbox import enqueue_mail
from api.settings import Settings, get_settings
from models import outbox as outbox_rows
from models.db import make_engine
from models.tables import Applicant, OutboxMessage, OutboxStatus, Role, utc_now
from tests.api.conftest import Api
from tests.conftest import BACKENDS, Databases

#: Longest a test waits for the dispatcher (it polls every POLL seconds).
WAIT_SECONDS = 30.0
POLL = 0.1
#: A new process imports the engine (torch): slow on a busy machine.
PROCESS_START_SECONDS = 300.0
SENDER = "Hospitationsprogramm <hospitation@example.org>"


class Inbox:
    """The SMTP server's handler: keeps every message it accepted, parsed."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = delay

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MailServer:
    """aiosmtpd on one localhost port, stopped and started again on the same port."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def mail_server(inbox: Inbox) -> Iterator[MailServer]:
    server = MailServer(inbox)
    server.start()
    yield server
    server.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    """Settings of a plain SMTP server on localhost, polled and retried quickly."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "smtp_sender": SENDER,
        "outbox_poll_seconds": POLL,
        "outbox_retry_seconds": 0.2,
    }


@pytest.fixture
def api_settings(
    tmp_path: Path, seed_database: Path, backend: str, databases: Databases, mail_server: MailServer
) -> Iterator[Settings]:
    """The suite's settings (a copy of the seeded database) with the test's mail server."""
    url = databases.create(backend, tmp_path, seed=seed_database)
    yield Settings(database_url=url, **smtp_settings(mail_server.port))
    databases.drop(url)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def outbox(api_or_engine: Api | Any) -> list[OutboxMessage]:
    engine = api_or_engine.engine if isinstance(api_or_engine, Api) else api_or_engine
    with Session(engine) as session:
        return outbox_rows.list_messages(session=session, limit=1000)


def confirm_first_proposal(api: Api, round_id: int) -> dict[str, Any]:
    """Run the round and confirm its first proposal; the confirmed placement."""
    api.run(round_id)
    return confirm_next_proposal(api, round_id)


def applicant_and_offer(
    placement: dict[str, Any], applicants: list[dict[str, Any]], offers: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    applicant = next(a for a in applicants if a["id"] == placement["applicant_id"])
    offer = next(o for o in offers if o["id"] == placement["offer_id"])
    return applicant, offer


def german_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}.{month}.{year}"


# --- delivery ---------------------------------------------------------------------------------


def test_a_confirmed_placement_is_delivered_in_german_with_host_city_and_dates(
    api: Api,
    api_round: int,
    inbox: Inbox,
    applicants_data: list[dict[str, Any]],
    offers_data: list[dict[str, Any]],
) -> None:
    placement = confirm_first_proposal(api, api_round)
    applicant, offer = applicant_and_offer(placement, applicants_data, offers_data)

    wait_until(lambda: len(inbox.messages) == 1, "the confirmation e-mail")
    mail = inbox.messages[0]
    assert mail["To"] == applicant["email"]
    assert mail["From"] == SENDER
    assert mail["Content-Language"] == "de"
    assert mail["Subject"] == (
        f"Ihr Hospitationsplatz ist bestätigt: {offer['organisation']}, {offer['city']}"
    )
    body = mail.get_content()
    start = max(offer["available_from"], applicant["available_from"])
    end = min(offer["available_until"], applicant["available_until"])
    assert f"Guten Tag {applicant['name']}," in body
    assert f"Gastgeber:  {offer['organisation']}" in body
    assert f"Ort:        {offer['city']}" in body
    assert f"zwischen dem {german_date(start)} und dem {german_date(end)}" in body
    assert offer["mentor_name"] in body
    wait_until(lambda: outbox(api)[0].status is OutboxStatus.SENT, "the row marked sent")
    [row] = outbox(api)
    assert (row.kind, row.applicant_public_id, row.offer_public_id, row.attempts) == (
        "placement_confirmed",
        applicant["id"],
        offer["id"],
        1,
    )


def test_with_the_mail_server_down_the_message_waits_and_is_delivered_once_it_is_back(
    api: Api, api_round: int, mail_server: MailServer, inbox: Inbox
) -> None:
    mail_server.stop()
    confirm_first_proposal(api, api_round)

    wait_until(lambda: outbox(api)[0].attempts >= 2, "two failed attempts")
    [row] = outbox(api)
    assert row.status in {OutboxStatus.PENDING, OutboxStatus.SENDING}
    assert row.last_error == "ConnectionRefusedError: Connection refused"
    assert row.sent_at is None
    assert inbox.messages == []

    mail_server.start()
    wait_until(lambda: outbox(api)[0].status is OutboxStatus.SENT, "delivery after the outage")
    time.sleep(10 * POLL)  # further passes of the dispatcher find nothing to send
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"].startswith("Ihr Hospitationsplatz ist bestätigt")


def test_a_restarted_server_or_another_process_does_not_deliver_again(
    api_settings: Settings,
    model: SentenceTransformer,
    mail_server: MailServer,
    inbox: Inbox,
    offers_data: list[dict[str, Any]],
    applicants_data: list[dict[str, Any]],
) -> None:
    with TestClient(create_app(api_settings, model=model)) as client:
        api = Api(client)
        confirm_first_proposal(api, api.new_round(offers_data, applicants_data[:12]))
        wait_until(lambda: outbox(api)[0].status is OutboxStatus.SENT, "the first delivery")

    with TestClient(create_app(api_settings, model=model)):  # a new instance, same database
        time.sleep(10 * POLL)
    result = run_dispatch_process(api_settings.database_url, mail_server.port)
    assert result.returncode == 0, result.stderr
    assert "Gesendet: 0" in result.stdout
    assert len(inbox.messages) == 1


def run_dispatch_process(database_url: str, port: int) -> subprocess.CompletedProcess[str]:
    """``matcher outbox send`` in a new process on the database."""
    env = {**os.environ, "MATCHER_DATABASE_URL": database_url, **smtp_env(port)}
    code = "from api.cli import main; main(['outbox', 'send'])"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def smtp_env(port: int) -> dict[str, str]:
    return {f"MATCHER_{key.upper()}": str(value) for key, value in smtp_settings(port).items()}


def test_a_message_claimed_by_a_dead_process_is_sent_after_its_lease_once(
    empty_database_url: str, mail_server: MailServer, inbox: Inbox
) -> None:
    """The documented at-least-once window: a claim is taken over only when its lease ran out."""
    engine = make_engine(empty_database_url)
    settings = Settings(database_url=empty_database_url, **smtp_settings(mail_server.port))
    enqueue(engine, 1)
    with Session(engine) as session:
        dead = outbox_rows.claim_next(
            session=session, owner="gestorben", lease_until=utc_now() + timedelta(hours=1)
        )
        assert dead is not None
    dispatcher = Dispatcher(engine, settings)
    assert dispatcher.dispatch_once().sent == []  # the lease still holds
    with Session(engine) as session:
        session.exec(update(OutboxMessage).values(lease_until=utc_now() - timedelta(seconds=1)))
        session.commit()
    assert dispatcher.dispatch_once().sent == [dead.id]
    assert dispatcher.dispatch_once().sent == []
    [row] = outbox(engine)
    assert (row.status, row.attempts, row.owner) == (OutboxStatus.SENT, 2, None)
    assert len(inbox.messages) == 1
    engine.dispose()


def enqueue(engine: Any, count: int) -> None:
    with Session(engine) as session:
        for number in range(count):
            enqueue_mail(
                session,
                kind="application_received",
                to=f"person{number}@example.org",
                language="de",
                context={"name": f"Person {number}", "link": "https://x.test/m", "round_name": "R"},
                key=f"test:{number}",
            )
        session.commit()


DISPATCH_PROCESS = """
import sys, time, pathlib
from api.mailer import Dispatcher
from api.settings import get_settings
from models.db import make_engine

folder = pathlib.Path(sys.argv[1])
settings = get_settings()
engine = make_engine(settings.database_url, pool=settings.pool)
(folder / f"ready-{sys.argv[2]}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
print(len(Dispatcher(engine, settings).dispatch_once().sent))
"""


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_two_dispatcher_processes_deliver_each_message_exactly_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    messages = 40
    inbox = Inbox(delay=0.05)  # slow enough that both processes are sending at once
    server = MailServer(inbox)
    server.start()
    engine = make_engine(empty_database_url)
    enqueue(engine, messages)
    env = {**os.environ, "MATCHER_DATABASE_URL": empty_database_url, **smtp_env(server.port)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DISPATCH_PROCESS, str(tmp_path), str(number)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in (1, 2)
    ]
    try:
        wait_until(
            lambda: (
                all((tmp_path / f"ready-{n}").exists() for n in (1, 2))
                or any(p.poll() is not None for p in processes)
            ),
            "both processes",
            seconds=PROCESS_START_SECONDS,
        )
        (tmp_path / "go").touch()
        outputs = [process.communicate(timeout=PROCESS_START_SECONDS) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        server.stop()
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    sent = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(sent) == messages
    assert all(count > 0 for count in sent), sent  # both took part
    ids = inbox.message_ids()
    assert len(ids) == messages and len(set(ids)) == messages
    rows = outbox(engine)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert {r.attempts for r in rows} == {1}
    engine.dispose()


# --- what is enqueued, and when ---------------------------------------------------------------


def mails(api: Api, kind: str) -> list[OutboxMessage]:
    return [m for m in outbox(api) if m.kind == kind]


def test_decisions_enqueue_in_their_transaction_once_per_event(
    api: Api, api_round: int, applicants_data: list[dict[str, Any]]
) -> None:
    placement = confirm_first_proposal(api, api_round)
    base = f"/api/rounds/{api_round}/placements/{placement['id']}"
    # A refused decision (409) rolls back and queues nothing.
    api.ok("POST", f"{base}/confirm", 409)
    assert len(mails(api, "placement_confirmed")) == 1

    api.ok("POST", f"{base}/release", json={"reason": "Gastgeber hat keine Kapazität mehr"})
    [ended] = mails(api, "placement_ended")
    assert ended.applicant_public_id == placement["applicant_id"]
    assert "die Koordination hat den Platz freigegeben." in ended.body
    assert "Kapazität" not in ended.body  # the coordinator's reason stays internal

    # A host declines the next guest; the one after that keeps their place to the end.
    declined = confirm_next_proposal(api, api_round)
    _, mentor = api.issue(Role.MENTOR, api_round, offer_ids=[declined["offer_id"]])
    api.ok("POST", f"/api/mentor/guests/{declined['id']}/decline", token=mentor)
    assert "die gastgebende Stelle hat den Aufenthalt abgesagt." in only_mail_of(api, declined)
    placed = confirm_next_proposal(api, api_round)

    # An applicant without an address gets nothing; one who chose English gets English.
    taken = {placement["applicant_id"], declined["applicant_id"], placed["applicant_id"]}
    others = [a["id"] for a in applicants_data[:12] if a["id"] not in taken]
    silent, english = others[:2]
    set_applicant(api, api_round, silent, email=None)
    set_applicant(api, api_round, english, explanation_language="en")
    api.ok("PATCH", f"/api/rounds/{api_round}", json={"status": "closed", "reject_pending": True})
    closed = {str(m.applicant_public_id): m for m in mails(api, "round_closed")}
    with_address = [a["id"] for a in applicants_data[:12] if a["id"] != silent]
    assert sorted(closed) == sorted(with_address)
    assert closed[english].language == "en"
    assert closed[english].subject.startswith("The job-shadowing round")
    unplaced = closed[placement["applicant_id"]]
    assert "Leider konnten wir Ihnen in dieser Runde keinen Platz vermitteln." in unplaced.body
    final = closed[placed["applicant_id"]]
    assert "Ihr Platz steht fest:" in final.body
    assert final.offer_public_id == placed["offer_id"]

    # Reopened and closed again with nobody's state changed: no second message.
    api.ok("PATCH", f"/api/rounds/{api_round}", json={"status": "matching"})
    api.ok("PATCH", f"/api/rounds/{api_round}", json={"status": "closed", "reject_pending": True})
    assert len(mails(api, "round_closed")) == len(with_address)


def confirm_next_proposal(api: Api, round_id: int) -> dict[str, Any]:
    proposal = api.placements(round_id, "proposed")[0]
    confirmed: dict[str, Any] = api.ok(
        "POST", f"/api/rounds/{round_id}/placements/{proposal['id']}/confirm"
    )
    return confirmed


def only_mail_of(api: Api, placement: dict[str, Any]) -> str:
    """The body of the one placement_ended message about the placement's applicant."""
    [ended] = [
        m
        for m in mails(api, "placement_ended")
        if m.applicant_public_id == placement["applicant_id"]
    ]
    return ended.body


def set_applicant(api: Api, round_id: int, external_id: str, **values: Any) -> None:
    with api.session() as session:
        session.exec(
            update(Applicant)
            .where(col(Applicant.round_id) == round_id, col(Applicant.external_id) == external_id)
            .values(**values)
        )
        session.commit()


# --- without SMTP, and the command ------------------------------------------------------------


def test_without_a_mail_server_notifications_are_off_and_the_outbox_keeps_them(
    tmp_path: Path, model: SentenceTransformer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'off.db'}")
    with TestClient(create_app(settings, model=model)) as client:
        assert client.app.state.mailer is None  # type: ignore[attr-defined]
    off = [r for r in caplog.records if "Benachrichtigungen sind aus" in r.getMessage()]
    assert len(off) == 1


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_outbox_command_lists_masked_resends_failed_and_sends(
    cli_database: str, monkeypatch: pytest.MonkeyPatch, mail_server: MailServer, inbox: Inbox
) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    engine = make_engine(cli_database)
    runner.invoke(cli, ["db", "upgrade"])
    enqueue(engine, 2)
    refused = free_port()  # nothing listens there: every attempt fails
    settings = Settings(database_url=cli_database, **smtp_settings(refused), outbox_max_attempts=1)
    result = Dispatcher(engine, settings).dispatch_once()
    assert (result.sent, result.failed) == ([], [1])  # the pass stops at the broken connection

    listed = runner.invoke(cli, ["outbox", "list", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    assert "p***@example.org" in listed.output and "person0@" not in listed.output
    assert "ConnectionRefusedError" in listed.output
    shown = runner.invoke(cli, ["outbox", "list", "--show-address"])
    assert "person0@example.org" in shown.output and "person1@example.org" in shown.output

    no_server = runner.invoke(cli, ["outbox", "send"])
    assert no_server.exit_code == 2
    assert "Kein Mailserver eingestellt" in no_server.output

    refused_ids = runner.invoke(cli, ["outbox", "resend", "1", "2"])  # 2 is pending, not failed
    assert refused_ids.exit_code == 2
    assert "nicht fehlgeschlagen oder unbekannt: 2" in refused_ids.output
    assert outbox(engine)[1].status is OutboxStatus.FAILED  # all or none: nothing changed

    resent = runner.invoke(cli, ["outbox", "resend", "1"])
    assert resent.exit_code == 0, resent.output
    assert "1 Nachricht(en) wieder eingereiht: 1." in resent.output
    assert (outbox(engine)[1].status, outbox(engine)[1].attempts) == (OutboxStatus.PENDING, 0)

    for key, value in smtp_env(mail_server.port).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    sent = runner.invoke(cli, ["outbox", "send"])
    assert sent.exit_code == 0, sent.output
    assert "Gesendet: 2" in sent.output
    assert sorted(str(m["To"]) for m in inbox.messages) == [
        "person0@example.org",
        "person1@example.org",
    ]
    engine.dispose()


def test_the_access_export_lists_an_applicants_mails_and_erasure_deletes_them(
    api: Api, api_round: int
) -> None:
    placement = confirm_first_proposal(api, api_round)
    person = f"/api/rounds/{api_round}/applicants/{placement['applicant_id']}"
    export = api.ok("GET", f"{person}/personal-data")
    assert [(m["kind"], m["subject"][:30]) for m in export["emails"]] == [
        ("placement_confirmed", "Ihr Hospitationsplatz ist best")
    ]
    api.ok("DELETE", person, 204)
    assert all(m.applicant_public_id != placement["applicant_id"] for m in outbox(api))
