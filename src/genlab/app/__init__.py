"""What people use genlab through: the service layer (:mod:`genlab.app.service`) and the
command-line tool (:mod:`genlab.app.cli`); the REST server will call the same service."""
