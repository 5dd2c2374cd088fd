package dataset

// FashionMNISTLabels returns the ten Fashion-MNIST class names in label order.
func FashionMNISTLabels() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}
