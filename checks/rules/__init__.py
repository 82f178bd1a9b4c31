"""The rules, one module per topic of the call. Importing this package registers them all in
``checks.registry.REGISTRY``, in this order (the order findings are listed in receipts)."""

# Imported for their registrations.
import checks.rules.timing  # noqa: F401
import checks.rules.package  # noqa: F401
import checks.rules.documents  # noqa: F401
import checks.rules.form  # noqa: F401
import checks.rules.text  # noqa: F401
import checks.rules.layout  # noqa: F401
import checks.rules.photos  # noqa: F401
import checks.rules.video  # noqa: F401
import checks.rules.audio  # noqa: F401
import checks.rules.achievements  # noqa: F401
import checks.rules.quota  # noqa: F401
import checks.rules.duplicates  # noqa: F401
