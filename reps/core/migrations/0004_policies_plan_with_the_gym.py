"""The policies compare with reps_current_gym() itself, not `(SELECT reps_current_gym())`.

Wrapped in a subquery, each table's gym was a parameter of its own that the planner could not equate with
the query's `gym_id = <gym>`: joined tables lost their estimates, and plans with them (upcoming calls of a
100,000-lead gym read all 1,000 scheduled calls and sorted them, 4.8 ms, instead of stopping after 21,
0.2 ms). Unwrapped, the planner puts the function in one equivalence with the query's gym and checks it once
(a one-time filter); a query with no gym of its own checks it once per scan as an index condition, and at
worst once per row (5.6 us). Each check reads the gym and its proof together, so no statement can be shown
one gym's proof and then read another gym's rows.
"""

import importlib

from django.db import migrations

containment = importlib.import_module("reps.core.migrations.0003_containment")


class Migration(migrations.Migration):
    dependencies = [("core", "0003_containment")]

    operations = [
        migrations.RunSQL(containment.policies("reps_current_gym()"),
                          containment.policies("(SELECT reps_current_gym())")),
    ]
