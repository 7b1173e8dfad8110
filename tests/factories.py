import factory

from tests.testapp.models import Organisation, Profile, User


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Org {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    phone = ""

    class Params:
        with_phone = factory.Trait(
            phone=factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
        )
        no_email = factory.Trait(email="")


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    user = factory.SubFactory(UserFactory)
    mobile = ""
