import functools

from django.contrib import admin

from .scoping import all_gyms


class PlatformAdminSite(admin.AdminSite):
    """The admin is platform staff's view of every gym.

    Each admin view runs in the all-gyms scope, so that Django's own forms
    and checks (which query tenant models through their default managers)
    work across gyms; everywhere else a query needs a gym.
    """

    site_header = "Reps platform admin"
    site_title = "Reps admin"

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def in_all_gyms(request, *args, **kwargs):
            with all_gyms():
                response = wrapped(request, *args, **kwargs)
                # Admin pages are TemplateResponses, rendered after the view
                # returns: render inside the scope, where the forms' queries run.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response

        return in_all_gyms
