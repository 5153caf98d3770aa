"""mailslot.py's kernel32 declarations, checked against the Win32 prototypes on any OS.

The native transport calls kernel32 through ctypes with the restype/argtypes
of ``mailslot.KERNEL32_PROTOTYPES``.  A wrong declaration (a HANDLE returned
as a 32-bit int, an LPDWORD pointing at 64 bits, an ANSI string given to a W
function, a missing or swapped argument) breaks only on 64-bit Windows, so it
is checked here, on Linux too: the C prototypes below are parsed, each C type
is resolved through the Windows typedefs to what it is on win64 (LLP64: long
is 32 bits) and compared with what each ctypes type means there.

Sources (the prototypes are transcribed as Microsoft documents them, SAL-style
annotations included; nothing else is copied):
  winbase.h    CreateMailslotW  https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-createmailslotw
               GetMailslotInfo  https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-getmailslotinfo
               SetMailslotInfo  https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-setmailslotinfo
  fileapi.h    CreateFileW      https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-createfilew
               ReadFile         https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-readfile
               WriteFile        https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-writefile
  handleapi.h  CloseHandle      https://learn.microsoft.com/en-us/windows/win32/api/handleapi/nf-handleapi-closehandle
  Typedefs: "Windows Data Types" https://learn.microsoft.com/en-us/windows/win32/winprog/windows-data-types
  (BOOL, DWORD, HANDLE, PVOID, LPVOID, LPCVOID, LPDWORD, WCHAR, LPCWSTR, CHAR, LPCSTR);
  SECURITY_ATTRIBUTES https://learn.microsoft.com/en-us/windows/win32/api/wtypesbase/ns-wtypesbase-security_attributes
  and OVERLAPPED https://learn.microsoft.com/en-us/windows/win32/api/minwinbase/ns-minwinbase-overlapped
  (LPSECURITY_ATTRIBUTES and LPOVERLAPPED are pointers to those structures).
"""

from __future__ import annotations

import ast
import ctypes
import errno
import pathlib
import re
import subprocess
import sys
from ctypes import wintypes

import pytest

import mailslot

WIN32_PROTOTYPES = r"""
HANDLE CreateMailslotW(
  [in]           LPCWSTR               lpName,
  [in]           DWORD                 nMaxMessageSize,
  [in]           DWORD                 lReadTimeout,
  [in, optional] LPSECURITY_ATTRIBUTES lpSecurityAttributes
);

BOOL GetMailslotInfo(
  [in]            HANDLE  hMailslot,
  [out, optional] LPDWORD lpMaxMessageSize,
  [out, optional] LPDWORD lpNextSize,
  [out, optional] LPDWORD lpMessageCount,
  [out, optional] LPDWORD lpReadTimeout
);

BOOL SetMailslotInfo(
  [in] HANDLE hMailslot,
  [in] DWORD  lReadTimeout
);

HANDLE CreateFileW(
  [in]           LPCWSTR               lpFileName,
  [in]           DWORD                 dwDesiredAccess,
  [in]           DWORD                 dwShareMode,
  [in, optional] LPSECURITY_ATTRIBUTES lpSecurityAttributes,
  [in]           DWORD                 dwCreationDisposition,
  [in]           DWORD                 dwFlagsAndAttributes,
  [in, optional] HANDLE                hTemplateFile
);

BOOL ReadFile(
  [in]                HANDLE       hFile,
  [out]               LPVOID       lpBuffer,
  [in]                DWORD        nNumberOfBytesToRead,
  [out, optional]     LPDWORD      lpNumberOfBytesRead,
  [in, out, optional] LPOVERLAPPED lpOverlapped
);

BOOL WriteFile(
  [in]                HANDLE       hFile,
  [in]                LPCVOID      lpBuffer,
  [in]                DWORD        nNumberOfBytesToWrite,
  [out, optional]     LPDWORD      lpNumberOfBytesWritten,
  [in, out, optional] LPOVERLAPPED lpOverlapped
);

BOOL CloseHandle(
  [in] HANDLE hObject
);
"""

# Windows Data Types (see the module docstring), one level at a time.
WINDOWS_TYPEDEFS = {
    "BOOL": "int",
    "DWORD": "unsigned long",
    "CHAR": "char",
    "WCHAR": "wchar_t",
    "PVOID": "void *",
    "HANDLE": "PVOID",
    "LPVOID": "void *",
    "LPCVOID": "const void *",
    "LPDWORD": "DWORD *",
    "LPCSTR": "const CHAR *",
    "LPCWSTR": "const WCHAR *",
    "LPSECURITY_ATTRIBUTES": "struct _SECURITY_ATTRIBUTES *",
    "LPOVERLAPPED": "struct _OVERLAPPED *",
}

# C scalar types on 64-bit Windows (LLP64, MSVC): (bits, signed).  wchar_t is UTF-16.
WIN64_SCALARS = {
    "char": (8, True),
    "signed char": (8, True),
    "unsigned char": (8, False),
    "short": (16, True),
    "unsigned short": (16, False),
    "wchar_t": (16, False),
    "int": (32, True),
    "unsigned int": (32, False),
    "long": (32, True),
    "unsigned long": (32, False),
    "long long": (64, True),
    "unsigned long long": (64, False),
}
WIN64_POINTER_BITS = 64

# The ctypes type each Win32 type must be declared as.  Pointers to the opaque
# structures may be LPVOID (mailslot only ever passes NULL there).
CTYPE_FOR = {
    "HANDLE": wintypes.HANDLE,
    "BOOL": wintypes.BOOL,
    "DWORD": wintypes.DWORD,
    "LPCWSTR": wintypes.LPCWSTR,
    "LPCSTR": wintypes.LPCSTR,
    "LPVOID": wintypes.LPVOID,
    "LPCVOID": wintypes.LPCVOID,
    "LPDWORD": ctypes.POINTER(wintypes.DWORD),
    "LPSECURITY_ATTRIBUTES": wintypes.LPVOID,
    "LPOVERLAPPED": wintypes.LPVOID,
}

# What the type code of each ctypes simple type is in C, sized for win64
# (ctypes' codes name C types; their sizes are those of the platform's C ABI).
CTYPES_CODE_WIN64 = {
    "b": ("int", 8, True),
    "B": ("int", 8, False),
    "h": ("int", 16, True),
    "H": ("int", 16, False),
    "i": ("int", 32, True),
    "I": ("int", 32, False),
    "l": ("int", 32, True),
    "L": ("int", 32, False),
    "q": ("int", 64, True),
    "Q": ("int", 64, False),
    "u": ("int", 16, False),
    "P": ("ptr", ("void",)),
    "z": ("ptr", ("int", 8, True)),
    "Z": ("ptr", ("int", 16, False)),
}


# --------------------------------------------------------------------------
# A small C declaration parser
# --------------------------------------------------------------------------


def parse_prototypes(text: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """``RET NAME(TYPE name, ...);`` declarations -> {NAME: (RET, [(TYPE, name), ...])}.

    Understands Microsoft's documentation style: ``[in, optional]`` attributes,
    SAL annotations (``_In_``, ``_Out_opt_``), WINAPI / WINBASEAPI decorations,
    ``const`` and ``*``, comments, unnamed parameters and ``(void)``.
    """
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b_(?:In|Out|Inout)\w*_\b|\b(?:WINAPI|WINBASEAPI|APIENTRY|__stdcall|extern)\b", " ", text)
    out = {}
    for decl in text.split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        m = re.fullmatch(r"(?P<ret>[\w\s\*]+?)\s*\b(?P<name>\w+)\s*\((?P<params>[^()]*)\)", decl)
        assert m, f"cannot parse C declaration {decl!r}"
        params = []
        plist = [p.strip() for p in m["params"].split(",")] if m["params"].strip() not in ("", "void") else []
        for p in plist:
            tokens = re.findall(r"\w+|\*", p)
            words = [t for t in tokens if t not in ("const", "CONST", "*")]
            if len(words) >= 2 and tokens[-1] not in ("*",) and not _is_type_word(tokens[-1], words):
                pname, tokens = tokens[-1], tokens[:-1]
            else:
                pname = ""
            params.append((_normal_type(tokens), pname))
        assert m["name"] not in out, f"{m['name']} declared twice"
        out[m["name"]] = (_normal_type(re.findall(r"\w+|\*", m["ret"])), params)
    return out


def _is_type_word(word: str, words: list[str]) -> bool:
    """True when the last word belongs to the type (``unsigned long`` has no parameter name)."""
    return word in ("int", "long", "short", "char") and words[0] in ("unsigned", "signed", "long", "short")


def _normal_type(tokens: list[str]) -> str:
    return " ".join("const" if t == "CONST" else t for t in tokens)


def c_layout(ctype: str):
    """What C type ``ctype`` is on win64: ("int", bits, signed), ("void",), ("struct", tag) or ("ptr", x)."""
    tokens = ctype.split()
    depth = tokens.count("*")
    base = " ".join(t for t in tokens if t not in ("*", "const"))
    assert "*" not in tokens or tokens.index("*") == len(tokens) - depth, f"unsupported C type {ctype!r}"
    if base in WINDOWS_TYPEDEFS:
        layout = c_layout(WINDOWS_TYPEDEFS[base])
    elif base in WIN64_SCALARS:
        layout = ("int", *WIN64_SCALARS[base])
    elif base == "void":
        layout = ("void",)
    elif base.startswith("struct "):
        layout = ("struct", base.split()[1])
    else:
        raise AssertionError(f"unknown C type {base!r}: add its typedef from the Windows Data Types page")
    for _ in range(depth):
        layout = ("ptr", layout)
    return layout


def ctypes_layout(t):
    """What ctypes type ``t`` is in C on win64, in c_layout's terms."""
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):
        return ("ptr", ctypes_layout(t._type_))
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
        return ("struct", t.__name__)
    code = getattr(t, "_type_", None)
    assert isinstance(code, str) and code in CTYPES_CODE_WIN64, f"no win64 meaning known for ctypes type {t!r}"
    return CTYPES_CODE_WIN64[code]


def same_on_win64(c, py) -> bool:
    """Same size, signedness and pointee; a pointer to a structure may be declared void *."""
    if c == py:
        return True
    return c[0] == py[0] == "ptr" and c[1][0] == "struct" and py[1][0] in ("void", "struct")


def describe(layout) -> str:
    if layout[0] == "int":
        return f"{'' if layout[2] else 'u'}int{layout[1]}"
    if layout[0] == "ptr":
        return f"pointer({WIN64_POINTER_BITS}) to {describe(layout[1])}"
    return " ".join(layout)


PARSED = parse_prototypes(WIN32_PROTOTYPES)
FUNCTIONS = sorted(PARSED)


# --------------------------------------------------------------------------
# The checker checks: it knows the types and it catches the classic mistakes
# --------------------------------------------------------------------------


def test_parser_reads_every_prototype():
    assert FUNCTIONS == [
        "CloseHandle",
        "CreateFileW",
        "CreateMailslotW",
        "GetMailslotInfo",
        "ReadFile",
        "SetMailslotInfo",
        "WriteFile",
    ]
    assert PARSED["CloseHandle"] == ("BOOL", [("HANDLE", "hObject")])
    assert PARSED["CreateFileW"][1][3] == ("LPSECURITY_ATTRIBUTES", "lpSecurityAttributes")
    # other spellings of the same declarations parse to the same thing
    assert parse_prototypes("WINBASEAPI BOOL WINAPI CloseHandle(HANDLE);")["CloseHandle"] == ("BOOL", [("HANDLE", "")])
    assert parse_prototypes(
        "BOOL WINAPI WriteFile(_In_ HANDLE hFile, _In_ const void *lpBuffer, "
        "_In_ unsigned long n, _Out_opt_ DWORD *done, _Inout_opt_ LPOVERLAPPED o);"
    )["WriteFile"][1] == [
        ("HANDLE", "hFile"),
        ("const void *", "lpBuffer"),
        ("unsigned long", "n"),
        ("DWORD *", "done"),
        ("LPOVERLAPPED", "o"),
    ]


@pytest.mark.parametrize("ctype", sorted(CTYPE_FOR))
def test_each_win32_type_maps_to_a_ctypes_type_of_the_same_win64_layout(ctype):
    c, py = c_layout(ctype), ctypes_layout(CTYPE_FOR[ctype])
    assert same_on_win64(c, py), f"{ctype} is {describe(c)} on win64, {CTYPE_FOR[ctype]!r} is {describe(py)}"


def test_win64_sizes_of_the_types_mailslot_uses():
    assert c_layout("DWORD") == ("int", 32, False)  # unsigned long is 32 bits on Windows
    assert c_layout("BOOL") == ("int", 32, True)
    assert c_layout("HANDLE") == ("ptr", ("void",))
    assert c_layout("LPDWORD") == ("ptr", ("int", 32, False))
    assert c_layout("LPCWSTR") == ("ptr", ("int", 16, False))
    assert c_layout("LPCSTR") == ("ptr", ("int", 8, True))


@pytest.mark.parametrize(
    "ctype, wrong",
    [
        ("HANDLE", ctypes.c_int),  # truncates 64-bit handles
        ("HANDLE", ctypes.c_ulong),
        ("DWORD", ctypes.c_ushort),
        ("DWORD", ctypes.c_int),  # signedness
        ("BOOL", ctypes.c_uint),
        ("LPDWORD", ctypes.POINTER(ctypes.c_ushort)),  # the callee writes 4 bytes
        ("LPDWORD", ctypes.c_void_p),
        ("LPCWSTR", ctypes.c_char_p),  # ANSI text to a W function
        ("LPCSTR", ctypes.c_wchar_p),
        ("LPOVERLAPPED", ctypes.c_ulong),
    ],
)
def test_the_checker_rejects_classic_declaration_mistakes(ctype, wrong):
    assert not same_on_win64(c_layout(ctype), ctypes_layout(wrong))


# --------------------------------------------------------------------------
# mailslot.py's table against the prototypes
# --------------------------------------------------------------------------


def test_mailslot_declares_exactly_the_documented_functions():
    assert sorted(mailslot.KERNEL32_PROTOTYPES) == FUNCTIONS, (
        "every kernel32 function mailslot declares needs its prototype transcribed here, and vice versa"
    )


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_declaration_matches_the_win32_prototype(fname):
    c_ret, c_params = PARSED[fname]
    restype, argtypes = mailslot.KERNEL32_PROTOTYPES[fname]
    argtypes = tuple(argtypes)
    assert len(argtypes) == len(c_params), (
        f"{fname} takes {len(c_params)} arguments ({', '.join(n for _, n in c_params)}); declared {len(argtypes)}"
    )
    checks = [("return value", c_ret, restype)] + [
        (pname or f"argument {i + 1}", ctype, argtypes[i]) for i, (ctype, pname) in enumerate(c_params)
    ]
    for what, ctype, declared in checks:
        assert declared is CTYPE_FOR[ctype] or (
            CTYPE_FOR[ctype] is wintypes.LPVOID
            and c_layout(ctype)[1][0] == "struct"
            and same_on_win64(c_layout(ctype), ctypes_layout(declared))
        ), f"{fname} {what}: {ctype} must be declared {CTYPE_FOR[ctype].__name__}, not {declared.__name__}"
        assert same_on_win64(c_layout(ctype), ctypes_layout(declared)), (
            f"{fname} {what}: {ctype} is {describe(c_layout(ctype))} on win64, "
            f"{declared.__name__} is {describe(ctypes_layout(declared))}"
        )


# ctypes type names -> type codes as on Windows.  On an LP64 host ctypes makes
# c_ulonglong the same object as c_ulong (and c_longlong as c_long), so the
# objects in the table cannot tell a 64-bit DWORD from a 32-bit one there;
# the declarations as written in mailslot.py can.
WINDOWS_CTYPES_CODES = {
    "c_byte": "b",
    "c_ubyte": "B",
    "c_short": "h",
    "c_ushort": "H",
    "c_int": "i",
    "c_uint": "I",
    "c_long": "l",
    "c_ulong": "L",
    "c_longlong": "q",
    "c_ulonglong": "Q",
    "c_int32": "i",
    "c_uint32": "I",
    "c_int64": "q",
    "c_uint64": "Q",
    "c_size_t": "Q",
    "c_ssize_t": "q",
    "c_void_p": "P",
    "c_char_p": "z",
    "c_wchar_p": "Z",
    "c_wchar": "u",
}


def _source_layout(node, names):
    """The win64 layout of a ctypes type expression as written in mailslot.py.

    ``names``: what the names in scope stand for -- a dotted name for imports
    (``w`` -> ``wintypes``, ``POINTER`` -> ``ctypes.POINTER``) or the assigned
    expression (``LPDWORD`` -> ``POINTER(w.DWORD)``).
    """
    dotted = _dotted(node, names)
    if isinstance(node, ast.Name) and isinstance(names.get(node.id), ast.AST):
        return _source_layout(names[node.id], names)
    if isinstance(node, ast.Call) and _dotted(node.func, names) == "ctypes.POINTER" and len(node.args) == 1:
        return ("ptr", _source_layout(node.args[0], names))
    module, _, attr = (dotted or "").rpartition(".")
    if module == "ctypes" and attr in WINDOWS_CTYPES_CODES:
        return CTYPES_CODE_WIN64[WINDOWS_CTYPES_CODES[attr]]
    if module == "ctypes.wintypes" and hasattr(wintypes, attr):
        assert attr not in ("LARGE_INTEGER", "ULARGE_INTEGER"), "64-bit wintypes are not handled here"
        return ctypes_layout(getattr(wintypes, attr))
    raise AssertionError(f"cannot tell what {ast.unparse(node)!r} in the kernel32 table is on win64; extend this test")


def _dotted(node, names):
    """``w.DWORD`` -> ``ctypes.wintypes.DWORD`` when ``w`` is wintypes; None for other expressions."""
    if isinstance(node, ast.Name):
        target = names.get(node.id, node.id)
        return target if isinstance(target, str) else None
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, names)
        return f"{base}.{node.attr}" if base else None
    return None


def _names_in(body):
    """Imports and simple assignments among ``body``'s statements (not in nested functions)."""
    names, todo = {}, list(body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
        todo.extend(ast.iter_child_nodes(node))
    names.setdefault("wintypes", "ctypes.wintypes")
    return names


def written_kernel32_table():
    """mailslot.py's kernel32 table as written: {function: (restype node, [argtype nodes])}, and its names.

    Found wherever it is written (a module constant or built lazily in a
    function): the dict literal whose keys are the kernel32 function names.
    """
    tree = ast.parse(pathlib.Path(mailslot.__file__).read_text(encoding="utf-8"))
    found = []
    scopes = [(tree, tree.body)] + [
        (f, f.body) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for owner, body in scopes:
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if (
                isinstance(node, ast.Dict)
                and node.keys
                and all(isinstance(k, ast.Constant) and k.value in PARSED for k in node.keys)
            ):
                found.append((owner, node))
    tables = {id(d): (owner, d) for owner, d in found}  # innermost scope wins (functions come later)
    assert len(tables) == 1, f"expected one kernel32 table literal in mailslot.py, found {len(tables)}"
    owner, table = next(iter(tables.values()))
    names = _names_in(tree.body)
    if owner is not tree:
        names.update(_names_in(owner.body))
    written = {}
    for k, v in zip(table.keys, table.values, strict=True):
        assert isinstance(v, ast.Tuple) and len(v.elts) == 2 and isinstance(v.elts[1], (ast.Tuple, ast.List)), (
            f"{k.value}: expected (restype, (argtypes...)), found {ast.unparse(v)}"
        )
        written[k.value] = (v.elts[0], list(v.elts[1].elts))
    return written, names


@pytest.mark.parametrize(
    "ctype, written",
    [
        ("DWORD", "ctypes.c_ulonglong"),  # the same object as c_ulong on LP64 hosts
        ("LPDWORD", "ctypes.POINTER(ctypes.c_ulonglong)"),
        ("LPDWORD", "POINTER(c_size_t)"),
        ("HANDLE", "ctypes.c_long"),
        ("LPCWSTR", "w.LPCSTR"),
    ],
)
def test_the_source_check_rejects_64_bit_integers_that_ctypes_aliases_here(ctype, written):
    names = _names_in(ast.parse("import ctypes\nfrom ctypes import POINTER, c_size_t, wintypes as w").body)
    assert not same_on_win64(c_layout(ctype), _source_layout(ast.parse(written, mode="eval").body, names))


def test_the_source_check_reads_the_spellings_mailslot_may_use():
    names = _names_in(
        ast.parse("import ctypes\nfrom ctypes import POINTER, wintypes as w\nLPDWORD = POINTER(w.DWORD)").body
    )
    for written, ctype in [
        ("w.DWORD", "DWORD"),
        ("LPDWORD", "LPDWORD"),
        ("ctypes.wintypes.HANDLE", "HANDLE"),
        ("ctypes.POINTER(ctypes.wintypes.DWORD)", "LPDWORD"),
        ("ctypes.c_void_p", "LPVOID"),
        ("w.LPVOID", "LPOVERLAPPED"),
        ("ctypes.c_wchar_p", "LPCWSTR"),
    ]:
        got = _source_layout(ast.parse(written, mode="eval").body, names)
        assert same_on_win64(c_layout(ctype), got), written


def test_declarations_as_written_mean_the_same_on_win64():
    """Read the kernel32 table from mailslot.py's source, where c_ulonglong is not c_ulong."""
    written, names = written_kernel32_table()
    assert sorted(written) == FUNCTIONS
    for fname, (ret_node, arg_nodes) in written.items():
        c_ret, c_params = PARSED[fname]
        assert len(arg_nodes) == len(c_params), fname
        pairs = [("return value", c_ret, ret_node)] + [
            (pname, ctype, node) for (ctype, pname), node in zip(c_params, arg_nodes, strict=True)
        ]
        for what, ctype, node in pairs:
            got = _source_layout(node, names)
            assert same_on_win64(c_layout(ctype), got), (
                f"{fname} {what}: {ctype} is {describe(c_layout(ctype))} on win64, "
                f"{ast.unparse(node)} is {describe(got)}"
            )


def test_the_binding_calls_only_declared_functions():
    """Every kernel32 function mailslot.py calls through its binding is in the table it binds from."""
    tree = ast.parse(pathlib.Path(mailslot.__file__).read_text(encoding="utf-8"))
    holders = set()  # expressions the binding is stored in: k, self._k
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "kernel32"
        ):
            holders.update(ast.unparse(t) for t in node.targets)
    assert holders, "mailslot.py no longer gets its binding from kernel32(); update this test"
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr[:1].isupper():
            base = node.value
            if ast.unparse(base) in holders or (
                isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "kernel32"
            ):
                called.add(node.attr)
    assert called, "found no kernel32 call in mailslot.py"
    assert called <= set(mailslot.KERNEL32_PROTOTYPES), (
        f"called but not declared: {sorted(called - set(mailslot.KERNEL32_PROTOTYPES))}"
    )
    assert set(mailslot.KERNEL32_PROTOTYPES) <= called, (
        f"declared but never called: {sorted(set(mailslot.KERNEL32_PROTOTYPES) - called)}"
    )


# --------------------------------------------------------------------------
# The module on a system without kernel32
# --------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="checks the behaviour where Windows is absent")
def test_import_works_without_windll():
    code = (
        "import ctypes, errno, sys\n"
        "assert not hasattr(ctypes, 'WinDLL') and not hasattr(ctypes, 'windll')\n"
        "import mailslot\n"
        "assert mailslot._kernel32_instance is None\n"
        "try:\n"
        "    mailslot.kernel32()\n"
        "except mailslot.MailslotError as e:\n"
        "    assert e.errno == errno.ENOSYS, e\n"
        "else:\n"
        "    sys.exit('kernel32() worked without Windows')\n"
        "try:\n"
        "    mailslot.write('.', 'foxapp', b'x', transport='native')\n"
        "except ValueError as e:\n"
        "    assert '--transport netbios' in str(e), e\n"
        "else:\n"
        "    sys.exit('the native transport was accepted without Windows')\n"
        "print('ok', mailslot.default_transport())\n"
    )
    root = pathlib.Path(mailslot.__file__).parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.split() == ["ok", "netbios"]


def test_remote_mailslot_help_names_the_cause_and_both_remedies():
    help_text = mailslot.REMOTE_MAILSLOTS_HELP
    for needed in ("24H2", "Server 2025", "EnableMailslots", "--transport netbios"):
        assert needed in help_text, f"REMOTE_MAILSLOTS_HELP does not mention {needed!r}"
    assert mailslot.ERROR_REMOTE_MAILSLOTS_DEPRECATED == 3025
    assert 3025 in mailslot.REMOTE_FAILURE_CODES


@pytest.mark.skipif(
    not hasattr(ctypes, "WinError"),
    reason="mailslot._winerror builds on ctypes.WinError, which exists only on Windows; "
    "not faked here (runs under Windows or the Windows CPython in Wine)",
)
def test_winerror_maps_codes_to_the_exceptions_a_user_sees():
    path = "\\\\PEER\\mailslot\\foxapp"
    e = mailslot._winerror(f"CreateFileW({path!r})", 3025, remote_path=path)
    assert isinstance(e, mailslot.RemoteMailslotsError) and e.winerror == 3025
    for needed in ("3025", "24H2", "Server 2025", "EnableMailslots", "--transport netbios", path):
        assert needed in str(e), f"{needed!r} missing from: {e}"
    e = mailslot._winerror("WriteFile", mailslot.ERROR_BAD_NETPATH, remote_path=path)
    assert isinstance(e, mailslot.RemoteMailslotsError) and "--transport netbios" in str(e)
    e = mailslot._winerror("CreateMailslotW", mailslot.ERROR_ALREADY_EXISTS)
    assert isinstance(e, mailslot.MailslotExistsError) and isinstance(e, FileExistsError)
    e = mailslot._winerror("CreateFileW", mailslot.ERROR_FILE_NOT_FOUND)
    assert isinstance(e, mailslot.MailslotNotFoundError) and isinstance(e, FileNotFoundError)
    e = mailslot._winerror("ReadFile", 5)  # ERROR_ACCESS_DENIED: no special meaning
    assert type(e) is mailslot.MailslotError and e.winerror == 5 and "ReadFile failed" in str(e)
    assert e.errno == errno.EACCES
