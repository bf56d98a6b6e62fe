"""Domain exceptions: every user mistake becomes one of these, carrying what and where."""

from __future__ import annotations


class CurataError(Exception):
    """Base class of every error Curata reports to a user (CLI exit 1, API 4xx)."""

    status_code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(CurataError):
    """A named object (source, dataset, version, record) does not exist."""

    status_code = 404


class AlreadyExistsError(CurataError):
    """An object with that name already exists."""

    status_code = 409


class AuthError(CurataError):
    """The caller did not prove who they are (a wrong name or token; API: 401)."""

    status_code = 401


class ForbiddenError(CurataError):
    """The user may not do this (API: 403)."""

    status_code = 403


class ConflictError(CurataError):
    """A concurrent change made the operation impossible; retrying may succeed."""

    status_code = 409


class InputError(CurataError):
    """Bad input data: names the file, line and field where the problem is."""

    status_code = 422

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        where: str | None = None,
    ) -> None:
        if where is None and path is not None:
            where = path if line is None else f"{path}:{line}"
        if field is not None:
            problem = f"field '{field}': {problem}"
        super().__init__(f"{where}: {problem}" if where else problem)
        self.path = path
        self.line = line
        self.field = field


class ValidationError(CurataError):
    """A parameter given by the user is invalid (names the parameter and why)."""

    status_code = 422


class WorkspaceError(CurataError):
    """The workspace is missing, unreadable or from an incompatible version."""
