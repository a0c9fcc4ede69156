"""Assembly: settings, the Bot and Dispatcher factory, middlewares, i18n, delivery."""
