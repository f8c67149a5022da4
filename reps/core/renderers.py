"""The browsable API, with the page template that works under the Content-Security-Policy (reps/api.html)."""

from rest_framework.renderers import BrowsableAPIRenderer as DRFBrowsableAPIRenderer


class BrowsableAPIRenderer(DRFBrowsableAPIRenderer):
    template = "reps/api.html"
