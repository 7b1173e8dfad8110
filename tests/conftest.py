pytest_plugins = ["django_distinct.testing.pytest_plugin"]
