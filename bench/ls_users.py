"""Create Label Studio annotator users with API tokens (run with Label Studio's own venv).

Used by ``bench/annotation_load.py``: Label Studio's API creates one token per login, so the
benchmark makes its N annotators through Django directly, in the same database that the running
server uses (the same environment variables). Prints ``{"email": "token", ...}`` as JSON.

    bench/out/ls-venv/bin/python bench/ls_users.py N
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import label_studio

sys.path.insert(0, str(Path(label_studio.__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")

import django

django.setup()

from organizations.models import Organization  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from users.models import User  # noqa: E402


def main(n: int) -> None:
    org = Organization.objects.first()
    assert org is not None, "start Label Studio once first (it creates the organization)"
    tokens: dict[str, str] = {}
    for i in range(n):
        email = f"ann{i:03d}@bench.local"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password="bench-annotator-pw")
        org.add_user(user)
        user.active_organization = org
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        tokens[email] = token.key
    print(json.dumps(tokens))


if __name__ == "__main__":
    main(int(sys.argv[1]))
