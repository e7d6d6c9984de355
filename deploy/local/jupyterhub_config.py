"""JupyterHub's configuration for `make hub` (deploy/local/hub.py sets the DESCENT_HUB_* values).

Authentication: PAM, JupyterHub's default: each person logs in with their local Unix account's
password. A university swaps in its own sign-in here and nothing else changes, as long as each
hub user maps to a local account (or use the Kubernetes deployment in deploy/kubernetes/):
- OAuth / OpenID Connect (`pip install oauthenticator`)::
      c.JupyterHub.authenticator_class = "generic-oauth"
      c.GenericOAuthenticator.client_id = ...; c.GenericOAuthenticator.client_secret = ...
      c.GenericOAuthenticator.authorize_url / token_url / userdata_url = ...
      c.LocalAuthenticator.create_system_users = True
- An LMS through LTI 1.3 (`pip install jupyterhub-ltiauthenticator`)::
      c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.authenticator.LTI13Authenticator"
      c.LTI13Authenticator.issuer = ...; c.LTI13Authenticator.client_id = [...]
      c.LTI13Authenticator.authorize_url = ...; c.LTI13Authenticator.jwks_endpoint = ...
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets

env = os.environ
COURSE_ID = "descent"
PYTHON = env["DESCENT_HUB_PYTHON"]
VENV = env["DESCENT_HUB_VENV"]  # the checkout's .venv: its Jupyter settings enable nbgrader
STUDENTS = env["DESCENT_HUB_STUDENTS"].split()
STAFF = ["descent-instructor", "descent-ta"]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(env["DESCENT_HUB_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.ConfigurableHTTPProxy.command = [env["DESCENT_HUB_PROXY"]]
c.JupyterHub.cleanup_servers = True  # the hub's servers stop with it (make hub's Ctrl-C)

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no login session per server (none in containers)
c.Authenticator.allowed_users = set(STUDENTS + STAFF)
c.Authenticator.admin_users = {"descent-instructor"}

# Each user's own JupyterLab, as that Unix user, in their home folder (mode 0700).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def _jupyter_paths(spawner) -> dict:
    role = "STAFF" if spawner.user.name in STAFF else "STUDENTS"
    return {
        "JUPYTER_CONFIG_PATH": os.pathsep.join([env[f"DESCENT_HUB_{role}_CONFIG"],
                                                f"{VENV}/etc/jupyter"]),
        "PATH": f"{os.path.dirname(PYTHON)}:/usr/local/bin:/usr/bin:/bin",  # nbgrader runs alembic
    }


def _pre_spawn(spawner) -> None:
    spawner.environment.update(_jupyter_paths(spawner))


c.Spawner.pre_spawn_hook = _pre_spawn

# The formgrader, as a hub service: one Jupyter server run as the course's own account,
# descent-grader, in the course folder. The instructor and the TA (group formgrade-descent)
# reach it at /services/descent/; students cannot.
c.JupyterHub.load_groups = {f"formgrade-{COURSE_ID}": {"users": STAFF}}
c.JupyterHub.load_roles = [
    {"name": f"formgrade-{COURSE_ID}", "groups": [f"formgrade-{COURSE_ID}"],
     "scopes": [f"access:services!service={COURSE_ID}", "list:services",
                f"read:services!service={COURSE_ID}"]},
]
c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": "http://127.0.0.1:9999",
    "command": [PYTHON, "-m", "jupyterhub.singleuser", "--ServerApp.root_dir=" +
                env["DESCENT_HUB_COURSE"]],
    "user": "descent-grader",
    "cwd": env["DESCENT_HUB_COURSE"],
    "oauth_no_confirm": True,
    "environment": {
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",
        "JUPYTER_CONFIG_PATH": os.pathsep.join([env["DESCENT_HUB_STAFF_CONFIG"],
                                                f"{VENV}/etc/jupyter"]),
        "PATH": f"{os.path.dirname(PYTHON)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/home/descent-grader",
    },
}]
