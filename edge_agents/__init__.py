"""Edge agent runtime and SDK: drivers, store-and-forward and MQTT publishing for one device."""
