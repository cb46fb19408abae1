"""What SellerDesk knows: the eight flows as data, question matching and entity extraction."""
