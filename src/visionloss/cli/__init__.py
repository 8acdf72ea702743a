"""The ``visionloss`` command."""
