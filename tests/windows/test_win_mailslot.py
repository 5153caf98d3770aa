"""mailslot.py's ``native`` transport (kernel32 through ctypes) on Windows Python.

Each check runs the project's code in a Windows CPython (under Wine in CI).  The checks
of Windows behaviour that Wine 8.0 does not reproduce are marked ``wine_gap``: under Wine
they are expected failures with the reason, on a real Windows they must pass.  lanmsg's
own reads work either way (a 64 KiB buffer, no use of the message count).
"""

import ctypes
import threading
import time
from ctypes import wintypes

import pytest
from winsupport import HANG, WINE, Proc, computer_name, only_without_remote_mailslots, run, unique, wine_gap

import mailslot
from mailslot import MAILSLOT_NO_MESSAGE, MAILSLOT_WAIT_FOREVER


@pytest.fixture
def slots():
    """Open native mailslots with names of their own; all closed afterwards."""
    opened = []

    def open_slot(name=None, **kw):
        opened.append(mailslot.Mailslot(name or unique(), transport="native", **kw))
        return opened[-1]

    yield open_slot
    for s in opened:
        s.close()


def write(name, data, target="."):
    return mailslot.write(target, name, data, transport="native")


def later(delay, fn, *args):
    t = threading.Timer(delay, fn, args)
    t.daemon = True
    t.start()
    return t


def test_it_is_windows_python_on_the_native_transport():
    import sys

    assert sys.platform == "win32" and mailslot.default_transport() == "native"
    assert mailslot.resolve_transport(None) == "native"
    print(f"Windows CPython {sys.version.split()[0]}" + (f" under Wine {WINE}" if WINE else " on Windows"))


# --------------------------------------------------------------------------
# create, write, read in order
# --------------------------------------------------------------------------


def test_create_write_and_read_in_order(slots):
    slot = slots()
    assert (slot.transport, slot.closed) == ("native", False)
    sent = [b"one", b"two", b"three", bytes(range(256)), "grüße ☃".encode()]
    for data in sent:
        assert write(slot.name, data) == len(data)
    got = [slot.read(timeout=HANG) for _ in sent]
    assert [m.data for m in got] == sent
    for m in got:
        assert (m.mailslot, m.local, m.source_name) == (slot.name, True, None)
    with pytest.raises(TimeoutError):
        slot.read(timeout=0)


def test_names_nested_and_case_insensitive(slots):
    base = unique()
    deep = slots(base + "\\a\\b")
    upper = slots(base.upper() + "X")
    write(base.upper() + "\\A\\B", b"deep")
    write(base.lower() + "x", b"case")
    write("\\\\.\\mailslot\\" + base + "\\a\\b", b"full path")
    assert [deep.read(timeout=HANG).data for _ in range(2)] == [b"deep", b"full path"]
    assert upper.read(timeout=HANG).data == b"case"


def test_write_to_this_computers_own_name_is_local(slots):
    """The own name is written as \\\\.\\mailslot\\NAME, so it works without remote mailslots."""
    name = computer_name()
    assert mailslot.default_computer_name() == name.upper()
    slot = slots()
    config = mailslot.Config()  # the computer name as lanmsg finds it, not LANMSG_NAME
    for target in (name, name.lower(), "\\\\" + name, "."):
        mailslot.write(target, slot.name, target.encode(), transport="native", config=config)
        assert slot.read(timeout=HANG).data == target.encode()


def test_read_any_over_two_native_slots(slots):
    a, b = slots(), slots()
    later(0.2, write, b.name, b"for b")
    which, msg = mailslot.read_any([a, b], HANG)
    assert (which, msg.data) == (b, b"for b")
    with pytest.raises(TimeoutError):
        mailslot.read_any([a, b], 0.05)


# --------------------------------------------------------------------------
# GetMailslotInfo: next size, the empty value, the count
# --------------------------------------------------------------------------


def test_info_next_size_and_the_empty_value(slots):
    slot = slots(max_size=0, read_timeout=0.25)
    info = slot.info()
    assert (info.max_size, info.next_size, info.count, info.read_timeout) == (0, MAILSLOT_NO_MESSAGE, 0, 250)
    assert MAILSLOT_NO_MESSAGE == 0xFFFFFFFF
    write(slot.name, b"abc")
    write(slot.name, b"hello")
    assert slot.info().next_size == 3
    assert slot.info().count >= 1
    assert slot.read().data == b"abc"
    assert slot.info().next_size == 5
    assert slot.read().data == b"hello"
    assert (slot.info().next_size, slot.info().count) == (MAILSLOT_NO_MESSAGE, 0)


@wine_gap("GetMailslotInfo's message count is only ever 0 or 1 (ntdll: MessagesAvailable = (res > 0))")
def test_info_counts_every_waiting_message(slots):
    slot = slots()
    for data in (b"a", b"bb", b"ccc"):
        write(slot.name, data)
    assert slot.info().count == 3


# --------------------------------------------------------------------------
# Read timeouts: 0, N ms, forever
# --------------------------------------------------------------------------


def test_read_timeout_zero_returns_at_once(slots):
    slot = slots(read_timeout=0)
    assert slot.info().read_timeout == 0
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="ERROR_SEM_TIMEOUT"):
        slot.read()
    with pytest.raises(TimeoutError):
        slot.read(timeout=0)
    assert slot.try_read() is None
    assert time.monotonic() - started < 5  # it did not wait (generous: the machine is shared)
    write(slot.name, b"now")
    assert slot.read(timeout=0).data == b"now"  # already queued: no wait needed


def test_read_timeout_n_ms(slots):
    slot = slots()
    slot.set_read_timeout(0.3)
    assert slot.info().read_timeout == 300
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        slot.read()
    assert time.monotonic() - started >= 0.25  # it waited for the timeout
    with pytest.raises(TimeoutError):
        slot.read(timeout=0.05)


def test_a_message_arriving_during_a_timed_read_ends_it(slots):
    slot = slots()
    later(0.2, write, slot.name, b"late")
    started = time.monotonic()
    assert slot.read(timeout=HANG).data == b"late"
    assert time.monotonic() - started < HANG


def test_read_forever_returns_when_a_writer_writes_later(slots):
    slot = slots()  # read_timeout None: MAILSLOT_WAIT_FOREVER
    assert slot.info().read_timeout == MAILSLOT_WAIT_FOREVER
    box = {}
    reader = threading.Thread(target=lambda: box.setdefault("msg", slot.read()), daemon=True)
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()  # still waiting: nothing was written
    write(slot.name, b"at last")
    reader.join(HANG)
    assert not reader.is_alive(), "read() did not return after a write"
    assert box["msg"].data == b"at last"


# --------------------------------------------------------------------------
# Ownership: already exists (183), bad names, close and re-create
# --------------------------------------------------------------------------


def test_already_exists_in_the_same_process(slots):
    first = slots()
    for spelling in (first.name, first.name.upper(), "\\\\.\\mailslot\\" + first.name):
        with pytest.raises(mailslot.MailslotExistsError) as e:
            mailslot.Mailslot(spelling, transport="native")
        assert e.value.winerror == mailslot.ERROR_ALREADY_EXISTS == 183
        assert isinstance(e.value, FileExistsError)
    write(first.name, b"still mine")
    assert first.read(timeout=HANG).data == b"still mine"


def test_already_exists_from_a_second_process(slots):
    first = slots()
    code = (
        "import sys, mailslot\n"
        "try:\n"
        "    mailslot.Mailslot(sys.argv[1], transport='native')\n"
        "except mailslot.MailslotExistsError as e:\n"
        "    print('exists', e.winerror, e.strerror)\n"
    )
    r = run("-c", code, first.name)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert r.stdout.decode().startswith("exists 183 CreateMailslotW"), r.stdout
    # the debugging CLI says so in one line, exit code 3
    r = run("-m", "mailslot", "listen", first.name, "--transport", "native")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 3, err
    assert "already exists" in err and "183" in err and "Traceback" not in err
    write(first.name, b"first keeps it")
    assert first.read(timeout=HANG).data == b"first keeps it"


@pytest.mark.parametrize("bad", ["", "a*b", "what?", "a/b", "c:x", "a\\\\b", "tr\u00e9s", "\\MAILSLOT\\"])
def test_bad_names_are_refused_before_kernel32(bad):
    with pytest.raises(mailslot.MailslotNameError):
        mailslot.Mailslot(bad, transport="native")
    with pytest.raises(mailslot.MailslotNameError):
        mailslot.write(".", bad, b"x", transport="native")


def test_bad_name_cli_exit_code_2():
    r = run("-m", "mailslot", "listen", "a|b", "--transport", "native")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert err.startswith("mailslot: error: invalid mailslot name") and "Traceback" not in err


@pytest.mark.parametrize("path", ["lmwin-no-prefix", "\\\\.\\pipe\\lmwin-not-a-mailslot"])
def test_kernel32_itself_refuses_a_path_outside_the_mailslot_namespace(path):
    """mailslot.py never passes such a path (it validates names first: Wine would even
    create \\\\.\\mailslot\\a*b); the binding still reports kernel32's error as it is."""
    handle = mailslot.kernel32().CreateMailslotW(path + unique(), 0, 0, None)
    code = ctypes.get_last_error()
    assert handle in (None, mailslot.INVALID_HANDLE_VALUE)
    assert code == mailslot.ERROR_INVALID_NAME == 123
    err = mailslot._winerror("CreateMailslotW", code)
    assert isinstance(err, mailslot.MailslotError) and err.winerror == 123
    assert err.strerror.startswith("CreateMailslotW failed: [WinError 123]")


def test_close_and_re_create(slots):
    slot = slots()
    write(slot.name, b"left unread")
    slot.close()
    slot.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        slot.read(timeout=0)
    with pytest.raises(mailslot.MailslotNotFoundError) as e:
        write(slot.name, b"nobody home")
    assert e.value.winerror == mailslot.ERROR_FILE_NOT_FOUND and isinstance(e.value, FileNotFoundError)
    again = slots(slot.name)
    write(slot.name, b"fresh")
    assert again.read(timeout=HANG).data == b"fresh"  # nothing from the old owner
    with pytest.raises(TimeoutError):
        again.read(timeout=0.05)


def test_writers_in_parallel_do_not_lock_each_other_out(slots):
    """While another writer has the mailslot open, a write still succeeds: lanmsg opens its
    client handle sharing read and write (Wine, like Windows before Vista, enforces the
    share mode between two writers: ERROR_SHARING_VIOLATION otherwise)."""
    slot = slots()
    k = mailslot.kernel32()
    other = k.CreateFileW(
        "\\\\.\\mailslot\\" + slot.name,
        mailslot.GENERIC_WRITE,
        mailslot.FILE_SHARE_READ | mailslot.FILE_SHARE_WRITE,
        None,
        mailslot.OPEN_EXISTING,
        mailslot.FILE_ATTRIBUTE_NORMAL,
        None,
    )
    assert other not in (None, mailslot.INVALID_HANDLE_VALUE), ctypes.get_last_error()
    try:
        assert write(slot.name, b"while another writer is open") == 28
    finally:
        k.CloseHandle(other)
    assert slot.read(timeout=HANG).data == b"while another writer is open"
    errors = []

    def many(tag):
        try:
            for i in range(50):
                write(slot.name, f"{tag}{i}".encode())
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=many, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert errors == []
    got = [slot.read(timeout=HANG).data.decode() for _ in range(150)]
    for tag in "abc":
        assert [m for m in got if m[0] == tag] == [f"{tag}{i}" for i in range(50)]


# --------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------


def test_local_size_limit(slots):
    slot = slots()
    for n in (425, 5000, mailslot.LOCAL_MAX_MESSAGE):
        data = bytes(i % 251 for i in range(n))
        assert write(slot.name, data) == n
        assert slot.read(timeout=HANG).data == data
    with pytest.raises(mailslot.MessageTooLargeError) as e:
        write(slot.name, bytes(mailslot.LOCAL_MAX_MESSAGE + 1))
    assert e.value.limit == mailslot.LOCAL_MAX_MESSAGE
    with pytest.raises(TimeoutError):
        slot.read(timeout=0.05)  # nothing was sent


def test_remote_size_limit_is_checked_before_anything_is_sent():
    name = unique()
    limit = mailslot.max_remote_payload(name)
    for target in ("*", "WORKGROUP", "OTHERPC"):
        with pytest.raises(mailslot.MessageTooLargeError) as e:
            mailslot.write(target, name, bytes(limit + 1), transport="native")
        assert e.value.limit == limit and "nothing was sent" in str(e.value)


@wine_gap("nMaxMessageSize is not enforced: WriteFile accepts a larger message")
def test_a_message_larger_than_the_slots_max_size_is_refused(slots):
    slot = slots(max_size=8)
    assert slot.info().max_size == 8
    with pytest.raises(OSError):
        write(slot.name, bytes(20))


def _raw_read(handle, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    got = wintypes.DWORD()
    ok = mailslot.kernel32().ReadFile(handle, buf, size, ctypes.byref(got), None)
    return bool(ok), buf.raw[: got.value], ctypes.get_last_error()


@wine_gap(
    "a short ReadFile buffer truncates the message and drops the rest instead of failing "
    "with ERROR_INSUFFICIENT_BUFFER (122) and keeping it"
)
def test_kernel32_short_read_buffer_keeps_the_message(slots):
    slot = slots()
    write(slot.name, b"hello")
    handle = slot._impl._slot._handle
    ok, _data, code = _raw_read(handle, 2)
    assert (ok, code) == (False, mailslot.ERROR_INSUFFICIENT_BUFFER)
    assert slot.info().next_size == 5


def test_lanmsg_reads_whole_messages_whatever_their_size(slots):
    """mailslot.py reads with a 64 KiB buffer (and asks the size on ERROR_INSUFFICIENT_BUFFER),
    so it never meets Wine's truncation."""
    slot = slots()
    for n in (1, 2, 100, 4096, 65000):
        data = bytes(i % 7 for i in range(n))
        write(slot.name, data)
        assert slot.read(timeout=HANG).data == data


# --------------------------------------------------------------------------
# Zero-length messages
# --------------------------------------------------------------------------


@wine_gap("a zero-length message reads as ERROR_BROKEN_PIPE (109)")
def test_kernel32_reads_a_zero_length_message_as_zero_bytes(slots):
    slot = slots()
    write(slot.name, b"")
    assert (slot.info().next_size, slot.info().count) == (0, 1)
    ok, data, code = _raw_read(slot._impl._slot._handle, 64)
    assert (ok, data) == (True, b""), code


def test_lanmsg_reads_a_zero_length_message_as_empty_and_goes_on(slots):
    slot = slots()
    assert write(slot.name, b"") == 0
    write(slot.name, b"after")
    assert slot.read(timeout=HANG).data == b""
    assert slot.read(timeout=HANG).data == b"after"


# --------------------------------------------------------------------------
# Remote names: what a Windows without remote mailslots answers
# --------------------------------------------------------------------------


@only_without_remote_mailslots
@pytest.mark.parametrize("target", ["*", "WORKGROUP", "OTHERPC"])
def test_remote_targets_fail_with_the_explanation(target):
    name = unique()
    with pytest.raises(mailslot.RemoteMailslotsError) as e:
        mailslot.write(target, name, b"hello", transport="native")
    err = e.value
    assert err.winerror in (
        mailslot.ERROR_PATH_NOT_FOUND,
        mailslot.ERROR_REMOTE_MAILSLOTS_DEPRECATED,
        mailslot.ERROR_BAD_NETPATH,
    ), err
    for fragment in ("24H2", "Server 2025", "EnableMailslots", "--transport netbios", "CreateFileW"):
        assert fragment in err.strerror, (fragment, err.strerror)


def test_the_debugging_cli_on_the_native_transport():
    name = unique()

    listener = Proc("-m", "mailslot", "listen", name, "--count", "2", "--transport", "native")
    try:
        listener.wait_for(r"^listening on \\\\\.\\mailslot\\" + name + r" \(native\)$")
        for args in (("hello",), ("--hex", "00ff41")):
            r = run("-m", "mailslot", "send", ".", name, *args, "--transport", "native")
            assert r.returncode == 0, r.stderr
        assert listener.finish() == 0, listener.describe()
        out = listener.text("utf-8")
        assert f"\\MAILSLOT\\{name} 5B hello" in out and f"\\MAILSLOT\\{name} 3B hex:00ff41" in out, out
    finally:
        listener.kill()


# --------------------------------------------------------------------------
# What the netbios transport sees of this Windows machine
# --------------------------------------------------------------------------


def test_ipv4_interfaces_come_from_iphlpapi_with_directed_broadcasts():
    """Not from the host name (which Wine resolves through the unix resolver): every address
    with its mask, so group writes go to each interface's directed broadcast address."""
    import ipaddress

    ifaces = mailslot.ipv4_interfaces()
    assert ifaces == mailslot._windows_interfaces()
    assert any(i.loopback and i.address == "127.0.0.1" for i in ifaces), ifaces
    for i in ifaces:
        net = ipaddress.IPv4Network(f"{i.address}/{i.netmask}", strict=False)
        assert i.broadcast in ("", str(net.broadcast_address)), i
        assert i.loopback == i.address.startswith("127."), i
    assert mailslot.broadcast_routes(mailslot.Config(broadcast=("127.255.255.255",))) == [
        ("127.0.0.1", "127.255.255.255")
    ]
