import pytest

from tests.factories import UserFactory


@pytest.fixture
def user_factory():
    return UserFactory
