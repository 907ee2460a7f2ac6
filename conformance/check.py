"""SCIM conformance: runs scim2-tester's checks against a running Roster tenant.

Usage: python check.py BASE_URL TOKEN

Prints one line per check and a closing "N passed, N failed" line; exits non-zero on any
failure (statuses ERROR and CRITICAL). SKIPPED checks are features Roster does not advertise.
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    passed = failed = skipped = 0
    for r in results:
        if r.status in FAILING:
            failed += 1
            print(f"FAIL {r.status.name:<10} [{r.resource_type or '-'}] {r.title}: {r.reason}")
            if r.data is not None:
                print(f"     data: {str(r.data)[:600]}")
        elif r.status == Status.SKIPPED:
            skipped += 1
            print(f"skip {r.status.name:<10} [{r.resource_type or '-'}] {r.title}: {r.reason}")
        else:
            passed += 1
            print(f"ok   {r.status.name:<10} [{r.resource_type or '-'}] {r.title}")
    print(f"scim2-tester: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
