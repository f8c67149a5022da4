'use strict';
// The platform admin's gym filter (reps.tenancy.admin.GymFilter): choosing a gym in its box opens the list
// of that gym's rows, the list's other filters kept.
{
    const $ = django.jQuery;
    $(function() {
        $('select.reps-gym-filter-box').on('change', function() {
            if (this.value) {
                window.location.search = this.dataset.chosen.replace('GYM_ID', encodeURIComponent(this.value));
            }
        });
    });
}
