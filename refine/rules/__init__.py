"""Built-in rules, one module each, registered by the plugin manager like any third party's."""
