"""The smoke deployment of the production compose file (`invoke release.smoke`)."""
