"""Django's database sessions, kept out of the application role's reach (SESSION_ENGINE).

The application role may not read django_session (core migration 0003): were it abused, a listed session
key of a platform admin would open /admin/, which bypasses row-level security. This store asks the database
for one session at a time by its key, through SECURITY DEFINER functions; nothing can list the keys, and
the data of one is no use under another key.
"""

from typing import Any

from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connections, router


def _call(function: str, *arguments: Any) -> Any:
    """SELECT function(arguments) on the database sessions are written to (the platform login in /admin/)."""
    using = router.db_for_write(Session) or DEFAULT_DB_ALIAS
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {function}({', '.join(['%s'] * len(arguments))})", list(arguments))
        return cursor.fetchone()[0]


class SessionStore(SessionBase):
    @property
    def key_salt(self) -> str:
        # The data is signed for its own key: copied under another key (by someone who read it), it is no
        # session at all, so that a stolen session cannot be kept alive past its sign-out.
        return f"reps.core.sessions:{self.session_key}"

    def load(self) -> dict[str, Any]:
        data = _call("reps_session_load", self.session_key) if self.session_key else None
        if data is None:  # none, expired or never made: a new session
            self._session_key = None
            return {}
        decoded: dict[str, Any] = self.decode(data)
        return decoded

    def exists(self, session_key: str) -> bool:
        return bool(_call("reps_session_exists", session_key))

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()  # type: ignore[attr-defined]  # not in the stubs
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # the key was taken: another
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        """Write the session: a new one when must_create (CreateError if its key is taken), else an update.

        As Django's own store: a session deleted meanwhile (signed out elsewhere) is not brought back but
        raises UpdateError, which the session middleware answers with a 400.
        """
        if self.session_key is None:
            return self.create()
        data = self.encode(self._get_session(no_load=must_create))  # type: ignore[attr-defined]
        if not _call("reps_session_save", self.session_key, data, self.get_expiry_date(), must_create):
            raise CreateError if must_create else UpdateError
        return None

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key:
            _call("reps_session_delete", session_key)

    @classmethod
    def clear_expired(cls) -> None:
        _call("reps_session_clear_expired")
