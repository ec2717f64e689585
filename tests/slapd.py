"""A real OpenLDAP server for the directory sign-in tests: Debian's slapd, started on a free
port with a throwaway slapd.conf and database under a temporary directory, stopped after.

Its tree: dc=bank,dc=example with ou=people (inetOrgPerson, plus a small auxiliary class that
carries Active Directory's `userAccountControl`) and ou=groups (groupOfNames).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import ldap
import ldap.modlist
import pytest

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SUFFIX = "dc=bank,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

# Active Directory's account-control attribute (its real OID), for the "disabled bit" test.
AD_SCHEMA = """
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.1.1 NAME 'adAccountControl' AUXILIARY MAY userAccountControl )
"""

CONF = """
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {dir}/ad.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/db
"""


def require_slapd() -> None:
    """Skip on a developer's machine without slapd; in CI (CI=true) fail loudly instead."""
    if os.path.exists(SLAPD):
        return
    message = "slapd is not installed (Debian: slapd ldap-utils; ./scripts/setup installs them)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Slapd:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="slapd-test-"))
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.pid: int | None = None

    def start(self) -> None:
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "ad.schema").write_text(AD_SCHEMA)
        conf = self.dir / "slapd.conf"
        conf.write_text(CONF.format(dir=self.dir, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD))
        # slapd forks into the background and writes its pid file.
        subprocess.run([SLAPD, "-f", str(conf), "-h", f"{self.url}/"], check=True, timeout=30)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.admin().whoami_s()
                break
            except ldap.SERVER_DOWN:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not answer on {self.url}") from None
                time.sleep(0.1)
        self.pid = int((self.dir / "slapd.pid").read_text().strip())

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
            self.pid = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self) -> ldap.ldapobject.LDAPObject:
        conn = ldap.initialize(self.url, bytes_mode=False)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    # --- the tree ---------------------------------------------------------------------------
    def add(self, dn: str, attrs: dict[str, list[str]]) -> None:
        conn = self.admin()
        conn.add_s(dn, ldap.modlist.addModlist({k: [v.encode() for v in vs] for k, vs in attrs.items()}))
        conn.unbind_s()

    def replace(self, dn: str, name: str, values: list[str]) -> None:
        conn = self.admin()
        conn.modify_s(dn, [(ldap.MOD_REPLACE, name, [v.encode() for v in values])])
        conn.unbind_s()

    def delete(self, dn: str) -> None:
        conn = self.admin()
        conn.delete_s(dn)
        conn.unbind_s()

    def base_tree(self, groups: list[str]) -> None:
        self.add(SUFFIX, {"objectClass": ["dcObject", "organization"], "dc": ["bank"], "o": ["示例银行"]})
        self.add(PEOPLE, {"objectClass": ["organizationalUnit"], "ou": ["people"]})
        self.add(GROUPS, {"objectClass": ["organizationalUnit"], "ou": ["groups"]})
        for cn in groups:
            # groupOfNames needs a member: the directory's administrator stands in.
            self.add(group_dn(cn), {"objectClass": ["groupOfNames"], "cn": [cn], "member": [ROOT_DN]})

    def person(self, uid: str, password: str, *, name: str, branch_code: str, groups: list[str]) -> str:
        dn = person_dn(uid)
        self.add(
            dn,
            {
                "objectClass": ["inetOrgPerson", "adAccountControl"],
                "uid": [uid],
                "cn": [name],
                "sn": [name[:1]],
                "givenName": [name[1:] or name],
                "displayName": [name],
                "mail": [f"{uid}@bank.example"],
                "departmentNumber": [branch_code],
                "userPassword": [password],
                "userAccountControl": ["512"],  # AD's NORMAL_ACCOUNT
            },
        )
        for cn in groups:
            self.join(uid, cn)
        return dn

    def join(self, uid: str, cn: str) -> None:
        conn = self.admin()
        conn.modify_s(group_dn(cn), [(ldap.MOD_ADD, "member", [person_dn(uid).encode()])])
        conn.unbind_s()

    def leave(self, uid: str, cn: str) -> None:
        conn = self.admin()
        conn.modify_s(group_dn(cn), [(ldap.MOD_DELETE, "member", [person_dn(uid).encode()])])
        conn.unbind_s()


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"
