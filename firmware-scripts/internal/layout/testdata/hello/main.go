// Command hello is a minimal program whose build information the layout
// tests inspect.
package main

func main() {}
