"""The sign-in page, throttled: a script cannot try passwords faster than
CONNECTIONS_LOGIN_RATE per client address, nor per user name from many addresses."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.forms.utils import ErrorDict

from .. import rate_limit


class ThrottledLoginView(auth_views.LoginView):
    template_name = "auth/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip().lower()[:150]
        rate = settings.CONNECTIONS_LOGIN_RATE
        # Both budgets are counted on every attempt (no short-circuit).
        by_address = rate_limit.allow(scope="login-addr", key=rate_limit.client_address(request), rate=rate)
        by_user = rate_limit.allow(scope="login-user", key=username or "-", rate=rate)
        if by_address and by_user:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        # Show the message without validating the form: that would try the password.
        form._errors, form.cleaned_data = ErrorDict(), {}
        form.add_error(None, "Too many sign-in attempts; wait a minute and try again.")
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(rate_limit.parse_rate(rate)[1])
        return response
