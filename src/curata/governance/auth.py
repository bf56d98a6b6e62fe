"""Who is acting on a workspace.

The embedded default keeps the metadata in the workspace's own SQLite file: one person, who acts
as its owner under their ``CURATA_USER`` name, with no token. A *shared* database (PostgreSQL, or
any SQLite file but the workspace's own) is a team deployment: there an API token — ``--token``,
``CURATA_TOKEN`` or the one ``curata login`` saved — says who is acting, checked against the
same users (:func:`~curata.governance.identity.token_user`) and the same policy
(:mod:`curata.governance.policies`) as the REST API; the audit log then names that user.
:func:`identify` resolves it when a workspace opens; what each CLI command then needs is
:mod:`curata.cli.access`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import CurataError
from curata.governance.identity import User, token_user
from curata.settings import Settings, read_login

__all__ = ["AuthenticationError", "identify"]


class AuthenticationError(CurataError):
    """No usable API token where one is needed (API: 401)."""

    status_code = 401


def identify(sessions: sessionmaker[Session], settings: Settings) -> tuple[Settings, User | None]:
    """Resolve who is acting: on a shared database with a token, its user (who then acts under
    their own name); otherwise nobody authenticated, and ``settings.user`` acts.

    Raises :class:`AuthenticationError` for a token that is unknown, revoked or of an inactive
    user, and for a ``CURATA_USER`` that names someone other than the token's user.
    """
    if not settings.shared or settings.token is None:
        return settings, None
    token = settings.token.get_secret_value()
    user = token_user(sessions, token)
    if user is None:
        saved = read_login(settings.home) == token
        source = f"saved by 'curata login' in {settings.home}" if saved else "--token/CURATA_TOKEN"
        raise AuthenticationError(
            f"the API token ({source}) is unknown or revoked on this shared database: run "
            "'curata login' with a valid token (an admin issues one: 'curata user token NAME')"
        )
    if "user" in settings.model_fields_set and settings.user != user.name:
        raise AuthenticationError(
            f"CURATA_USER is {settings.user!r} but the API token belongs to {user.name!r}: on a "
            "shared database the token says who acts; unset CURATA_USER or use your own token"
        )
    return settings.model_copy(update={"user": user.name}), user
