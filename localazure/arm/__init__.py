"""The local ARM (and the slice of Microsoft Graph the service uses): `emulator.ArmEmulator` and its parts."""
