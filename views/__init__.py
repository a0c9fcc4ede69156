"""What people see: each feature's texts, keyboards, callback data, cards and pushes, one module
per feature, and the shared `i18n`, `keyboards`, `replies`, `charts` and `pictures`. Views read
storage and never write; handlers, jobs and exports import views."""
