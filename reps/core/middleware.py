from .scoping import gym_scope


class GymScopeMiddleware:
    """A signed-in gym user's request works for their gym (reps.core.scoping).

    Token-authenticated API requests are scoped by the API's base view once
    DRF has authenticated them; this covers session users.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        gym_id = getattr(user, "gym_id", None) if user is not None and user.is_authenticated else None
        if gym_id is None:
            return self.get_response(request)
        with gym_scope(gym_id):
            return self.get_response(request)
