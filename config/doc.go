// Package config defines the agent's configuration: its schema, the
// defaults, loading from a YAML file, the environment and command-line
// flags, validation, and the rules for what may change without a restart.
//
// Precedence, highest first: flags that were set, environment variables
// (OOD_AGENT_ followed by the key in upper case with dots replaced by
// underscores, e.g. OOD_AGENT_MQTT_TLS_CA_FILE for mqtt.tls.ca_file),
// the YAML file, and the defaults. Only this package and the command that
// starts the agent depend on viper; everything else receives a *Config.
package config
