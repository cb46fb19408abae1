"""What SellerDesk does: one module per flow, each returning a Diagnosis; shared checks."""
