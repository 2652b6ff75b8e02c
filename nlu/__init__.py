"""Understanding messages: intent classification, crisis screening and policy answers."""
