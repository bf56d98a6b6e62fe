"""What the two HTTP interfaces share — the REST API (:mod:`curata.api`) and the web pages
(:mod:`curata.web`): the request dependencies (the workspace, the access scopes, the path
parameters every route takes) in :mod:`curata.http.deps`. Both build on this package and
neither on the other, except that the API's app mounts the pages."""
