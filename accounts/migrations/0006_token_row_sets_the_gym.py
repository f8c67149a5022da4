"""reps_token_row() sets the transaction's gym itself, and keeps its plan: one round trip and a planning less.

Authentication asked three things in turn: the token's gym (reps_gym_of_token), then set that gym with the
application's proof of it (set_config), then read the token's row in it (reps_token_row). The last two are
now one call: the function is given the gym and the application's proof, sets them as set_config would
(transaction-local), and reads the row under them, so the row still comes only when the proof is good
(reps_current_gym()). The gym stays set after the call, as after set_config: a function's SET clause
restores only the settings it names (search_path). PL/pgSQL keeps the statement's plan for the session;
the SQL function planned its four-table join on every request.
"""

import importlib

from django.db import migrations

from reps.tenancy.database import application_role

previous = importlib.import_module("accounts.migrations.0005_token_row_function")

ROLE = application_role()

TOKEN_ROW = f"""
CREATE FUNCTION reps_token_row(token_key text, token_digest text, gym text, proof text) RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    found json;
BEGIN
    PERFORM set_config('reps.gym_id', gym, true), set_config('reps.gym_proof', proof, true);
    SELECT json_build_object('token', to_json(t), 'user', to_json(u), 'gym', to_json(g), 'role', to_json(r))
    INTO found
    FROM accounts_apitoken t
    JOIN accounts_user u ON u.id = t.user_id
    JOIN gyms_gym g ON g.id = u.gym_id
    LEFT JOIN accounts_role r ON r.id = u.role_id
    WHERE t.token_key = reps_token_row.token_key AND t.digest = reps_token_row.token_digest
      AND u.gym_id = reps_current_gym();
    RETURN found;
END
$$;
REVOKE ALL ON FUNCTION reps_token_row(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reps_token_row(text, text, text, text) TO {ROLE};
DROP FUNCTION reps_token_row(text, text);
"""


class Migration(migrations.Migration):

    dependencies = [("accounts", "0005_token_row_function")]

    operations = [
        migrations.RunSQL(TOKEN_ROW, previous.TOKEN_ROW + "DROP FUNCTION reps_token_row(text, text, text, text);"),
    ]
